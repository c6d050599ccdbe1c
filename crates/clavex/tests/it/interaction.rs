//! The login and consent interaction: the `user-rejects-authentication` module of the OIDF
//! `fapi2-security-profile-final-test-plan`, and Clavex's own interaction rules (CSRF, session
//! cookie, organizations, throttling, prompt and max_age, framing, 303 See Other, garbage input).

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

async fn setup() -> (TestServer, FapiClient) {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    (server, client)
}

/// Pushes the usual parameters plus `extra`; returns (request_uri, verifier).
async fn push_with(
    server: &TestServer,
    client: &FapiClient,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(client, "openid accounts", &challenge);
    for (k, v) in extra {
        set_param(&mut params, k, Some(v));
    }
    (server.push(client, &params).await, verifier)
}

fn login_url(server: &TestServer) -> String {
    format!("{}/login", server.issuer)
}

fn consent_url(server: &TestServer) -> String {
    format!("{}/consent", server.issuer)
}

/// Cancel on the login page (client 1) and Deny on the consent page (client 2, registered redirect
/// URI with a query, 128-character state): 303 with error=access_denied, the state and iss.
#[tokio::test]
async fn user_rejects_authentication() {
    let (server, client1) = setup().await;
    let mut client2 = server.fapi_client(json!({})).await;
    client2.redirect_uri = REDIRECT_URI_WITH_QUERY.to_owned();
    let state = suite_state_128();

    // Client 1: cancel at login.
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client1, &[("state", &state)]).await;
    let url = server.authorize_url(&client1.client_id, &request_uri);
    let page = browser.get(&url).await;
    let cancelled = server.submit_login(&browser, &page, "", "", true).await;
    cancelled.assert_authorization_error(
        REDIRECT_URI,
        "access_denied",
        Some(&state),
        &server.issuer,
    );
    assert!(set_cookie_line(&cancelled, &session_cookie(ORG)).is_none());
    // The request is finished: opening it again is invalid_request_uri.
    browser.get(&url).await.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some(&state),
        &server.issuer,
    );

    // Client 2: sign in, then deny on the consent page.
    let browser = Browser::new();
    let (request_uri, _) = push_with(
        &server,
        &client2,
        &[("state", &state), ("redirect_uri", REDIRECT_URI_WITH_QUERY)],
    )
    .await;
    let page = browser
        .get(&server.authorize_url(&client2.client_id, &request_uri))
        .await;
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
    let denied = server.submit_consent(&browser, &consent, false).await;
    denied.assert_authorization_error(
        REDIRECT_URI_WITH_QUERY,
        "access_denied",
        Some(&state),
        &server.issuer,
    );
    assert!(
        denied.location().starts_with(REDIRECT_URI_WITH_QUERY),
        "{}",
        denied.location()
    );
    // A denial is not remembered as consent: the next request asks again.
    let (request_uri, _) = push_with(
        &server,
        &client2,
        &[("redirect_uri", REDIRECT_URI_WITH_QUERY)],
    )
    .await;
    let again = browser
        .get(&server.authorize_url(&client2.client_id, &request_uri))
        .await;
    assert!(again.is_consent_page(), "{}", again.text);
}

// ---- CSRF ----

#[tokio::test]
async fn login_with_wrong_csrf_is_refused() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page());
    for csrf in ["wrong", ""] {
        for action in ["login", "cancel"] {
            let answer = browser
                .post(
                    &login_url(&server),
                    &[
                        ("client_id", client.client_id.as_str()),
                        ("request_uri", request_uri.as_str()),
                        ("csrf", csrf),
                        ("username", USERNAME),
                        ("password", PASSWORD),
                        ("action", action),
                    ],
                )
                .await;
            answer.assert_error_page(400);
            assert!(set_cookie_line(&answer, &session_cookie(ORG)).is_none());
        }
    }
    // A valid csrf of this browser, but for another pushed request, does not fit either.
    let (other_uri, _) = push_with(&server, &client, &[]).await;
    let other_page = browser
        .get(&server.authorize_url(&client.client_id, &other_uri))
        .await;
    let other_csrf = hidden_field(&other_page.text, "csrf").unwrap();
    assert_ne!(other_csrf, hidden_field(&page.text, "csrf").unwrap());
    let answer = browser
        .post(
            &login_url(&server),
            &[
                ("client_id", client.client_id.as_str()),
                ("request_uri", request_uri.as_str()),
                ("csrf", other_csrf.as_str()),
                ("username", USERNAME),
                ("password", PASSWORD),
                ("action", "login"),
            ],
        )
        .await;
    answer.assert_error_page(400);
    // The real form still works: nothing was used up.
    let done = server
        .interact(
            &browser,
            &server.authorize_url(&client.client_id, &request_uri),
        )
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
}

/// A login form's values replayed from another browser (another browser cookie, or none).
#[tokio::test]
async fn login_from_another_browser_is_refused() {
    let (server, client) = setup().await;
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    let victim = Browser::new();
    let page = victim.get(&url).await;
    let csrf = hidden_field(&page.text, "csrf").unwrap();
    let form = [
        ("client_id", client.client_id.as_str()),
        ("request_uri", request_uri.as_str()),
        ("csrf", csrf.as_str()),
        ("username", USERNAME),
        ("password", PASSWORD),
        ("action", "login"),
    ];
    let attacker = Browser::new();
    assert!(attacker.get(&url).await.is_login_page());
    let answer = attacker.post(&login_url(&server), &form).await;
    answer.assert_error_page(400);
    assert!(set_cookie_line(&answer, &session_cookie(ORG)).is_none());
    // Without any browser cookie.
    let answer = Browser::new().post(&login_url(&server), &form).await;
    answer.assert_error_page(400);
    assert!(set_cookie_line(&answer, &session_cookie(ORG)).is_none());
    // The victim's own submission works.
    let consent = victim.post(&login_url(&server), &form).await;
    assert!(consent.is_consent_page(), "{}", consent.text);
}

/// The consent form with a wrong csrf, or replayed from another signed-in browser: 400, no code,
/// and a forged Deny does not end the victim's request either.
#[tokio::test]
async fn consent_with_wrong_csrf_or_from_another_browser_is_refused() {
    let (server, client) = setup().await;
    let (request_uri, verifier) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    let victim = Browser::new();
    let page = victim.get(&url).await;
    let consent = server
        .submit_login(&victim, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page());
    let victim_csrf = hidden_field(&consent.text, "csrf").unwrap();
    for (csrf, action) in [("wrong", "approve"), ("", "approve"), ("wrong", "deny")] {
        let answer = victim
            .post(
                &consent_url(&server),
                &[
                    ("client_id", client.client_id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("csrf", csrf),
                    ("action", action),
                ],
            )
            .await;
        answer.assert_error_page(400);
    }
    // Another browser, signed in itself, replays the victim's consent form.
    let attacker = Browser::new();
    let attacker_page = attacker.get(&url).await;
    let attacker_consent = server
        .submit_login(&attacker, &attacker_page, USERNAME, PASSWORD, false)
        .await;
    assert!(attacker_consent.is_consent_page());
    for action in ["approve", "deny"] {
        let answer = attacker
            .post(
                &consent_url(&server),
                &[
                    ("client_id", client.client_id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("csrf", victim_csrf.as_str()),
                    ("action", action),
                ],
            )
            .await;
        answer.assert_error_page(400);
    }
    // The victim's real approval still completes.
    let done = server.submit_consent(&victim, &consent, true).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

// ---- the session cookie ----

#[tokio::test]
async fn session_cookie_is_httponly_lax_and_renewed_at_login() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let browser_line = set_cookie_line(&page, BROWSER_COOKIE).expect("browser cookie");
    let browser_id = set_cookie_value(&page, BROWSER_COOKIE).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(browser_line.contains(attribute), "{browser_line}");
    }
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    let line = set_cookie_line(&consent, &session_cookie(ORG)).expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(line.contains(attribute), "{line}");
    }
    let first = set_cookie_value(&consent, &session_cookie(ORG)).unwrap();
    assert!(clavex_jose::b64url_decode(&first).unwrap().len() >= 16);
    server.submit_consent(&browser, &consent, true).await;

    // prompt=login: a second login issues a new session id and ends the old one.
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "login")]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page());
    let done = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let second = set_cookie_value(&done, &session_cookie(ORG)).expect("new session cookie");
    assert_ne!(first, second);

    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    let cookies = |session: &str| {
        format!(
            "{BROWSER_COOKIE}={browser_id}; {}={session}",
            session_cookie(ORG)
        )
    };
    assert!(
        get_with_cookies(&url, &cookies(&first))
            .await
            .is_login_page()
    );
    let sso = get_with_cookies(&url, &cookies(&second)).await;
    sso.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
}

/// A session id planted in the browser before login (fixation) is never adopted.
#[tokio::test]
async fn planted_session_cookie_is_replaced_at_login() {
    let (server, client) = setup().await;
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    let browser_id = "planted-browser-id-0123456789";
    let planted = "planted-session-0123456789abcdefghijklmnop";
    let cookies = format!(
        "{BROWSER_COOKIE}={browser_id}; {}={planted}",
        session_cookie(ORG)
    );
    let page = get_with_cookies(&url, &cookies).await;
    assert!(page.is_login_page());
    let csrf = hidden_field(&page.text, "csrf").unwrap();
    let answer = post_with_cookies(
        &login_url(&server),
        &cookies,
        &[
            ("client_id", client.client_id.as_str()),
            ("request_uri", request_uri.as_str()),
            ("csrf", csrf.as_str()),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("action", "login"),
        ],
    )
    .await;
    assert!(answer.is_consent_page(), "{}", answer.text);
    let issued = set_cookie_value(&answer, &session_cookie(ORG)).expect("session cookie");
    assert_ne!(issued, planted);
    // The planted value still means nothing.
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = get_with_cookies(
        &server.authorize_url(&client.client_id, &request_uri),
        &cookies,
    )
    .await;
    assert!(page.is_login_page());
}

/// A login in organization `beta` does not sign the browser in at `acme`, not even with beta's
/// session id sent under acme's cookie name.
#[tokio::test]
async fn login_in_another_organization_does_not_count() {
    let (server, client) = setup().await;
    let beta_token = server.create_org("beta").await;
    server.create_user_in("beta", &beta_token).await;
    let beta_client = server.fapi_client_in("beta", &beta_token).await;
    let browser = Browser::new();

    let (_, challenge) = pkce_128();
    let par = server
        .par_at(
            "beta",
            &beta_client,
            &TestServer::authorization_params(&beta_client, "openid accounts", &challenge),
            &[],
        )
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let beta_uri = par.body["request_uri"].as_str().unwrap();
    let page = browser
        .get(&server.authorize_url_at("beta", &beta_client.client_id, beta_uri, &[]))
        .await;
    assert!(
        page.text.contains("action=\"/beta/login\""),
        "{}",
        page.text
    );
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
    let beta_session = set_cookie_value(&consent, &session_cookie("beta")).expect("beta session");
    let done = server.submit_consent(&browser, &consent, true).await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer_of("beta"));

    // The same browser at acme: login page.
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    assert!(browser.get(&url).await.is_login_page());
    // beta's session id under acme's cookie name: still the login page.
    let transplanted = get_with_cookies(
        &url,
        &format!(
            "{BROWSER_COOKIE}=b-0123456789; {}={beta_session}",
            session_cookie(ORG)
        ),
    )
    .await;
    assert!(transplanted.is_login_page(), "{}", transplanted.text);
    // acme's pushed request cannot be opened through beta's authorization endpoint.
    browser
        .get(&server.authorize_url_at("beta", &client.client_id, &request_uri, &[]))
        .await
        .assert_error_page(400);
    // And prompt=none at acme says login_required.
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "none")]).await;
    browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await
        .assert_authorization_error(
            REDIRECT_URI,
            "login_required",
            Some("state-123"),
            &server.issuer,
        );
}

// ---- credentials ----

/// Unknown user, wrong password and empty fields: the same page, the same status (no enumeration).
#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let wrong_password = server
        .submit_login(&browser, &page, USERNAME, "wrong password", false)
        .await;
    let unknown_user = server
        .submit_login(&browser, &page, "mallory", "wrong password", false)
        .await;
    let empty = server.submit_login(&browser, &page, "", "", false).await;
    // Random (incompressible) and long: no index entry in any store could hold it.
    let huge = clavex_jose::random_token(7_500);
    let huge_user = server
        .submit_login(&browser, &page, &huge, &huge, false)
        .await;
    assert_eq!(
        wrong_password.status.as_u16(),
        400,
        "{}",
        wrong_password.text
    );
    assert!(wrong_password.is_login_page() || wrong_password.text.contains("id=\"password\""));
    assert!(wrong_password.text.contains("incorrect"));
    // The pages differ only in the username echoed back into its field.
    let without_typed_username = |html: &str| -> String {
        match html.find("id=\"username\"") {
            Some(start) => {
                let end = html[start..].find('>').map_or(html.len(), |e| start + e);
                format!("{}{}", &html[..start], &html[end..])
            }
            None => html.to_owned(),
        }
    };
    for other in [&unknown_user, &empty, &huge_user] {
        assert_eq!(other.status, wrong_password.status);
        assert_eq!(
            without_typed_username(&other.text),
            without_typed_username(&wrong_password.text)
        );
        assert!(set_cookie_line(other, &session_cookie(ORG)).is_none());
    }
    // The right password (and the email address as login) still works.
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let consent = server
        .submit_login(&browser, &page, "alice@example.com", PASSWORD, false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
}

/// Ten failures for one account (from several addresses) refuse the eleventh attempt, even with
/// the right password, from yet another address; other accounts are not affected.
#[tokio::test]
async fn login_throttling_per_account() {
    let (server, client) = setup().await;
    server
        .admin(
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{ORG}/users"),
            ORG_TOKEN,
            Some(json!({"username": "bob", "password": "bob's long password"})),
        )
        .await;
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    for (i, ip) in ["127.0.0.2", "127.0.0.3"].iter().enumerate() {
        let browser = Browser::from_address(ip);
        let page = browser.get(&url).await;
        for _ in 0..5 {
            let answer = server
                .submit_login(&browser, &page, USERNAME, &format!("wrong {i}"), false)
                .await;
            assert!(answer.text.contains("incorrect"), "{}", answer.text);
        }
    }
    let browser = Browser::from_address("127.0.0.4");
    let page = browser.get(&url).await;
    let refused = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert_eq!(refused.status.as_u16(), 429, "{}", refused.text);
    assert!(refused.text.contains("Too many"), "{}", refused.text);
    assert!(set_cookie_line(&refused, &session_cookie(ORG)).is_none());
    // Bob, from the same address, signs in.
    let consent = server
        .submit_login(&browser, &page, "bob", "bob's long password", false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
}

/// The budget belongs to the account, not to the string typed: failures with the username and
/// with the email address of one user add up.
#[tokio::test]
async fn login_throttling_counts_username_and_email_together() {
    let (server, client) = setup().await;
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    for (login, ip) in [(USERNAME, "127.0.0.7"), ("alice@example.com", "127.0.0.8")] {
        let browser = Browser::from_address(ip);
        let page = browser.get(&url).await;
        for _ in 0..5 {
            let answer = server
                .submit_login(&browser, &page, login, "wrong password", false)
                .await;
            assert!(answer.text.contains("incorrect"), "{}", answer.text);
        }
    }
    let browser = Browser::from_address("127.0.0.9");
    let page = browser.get(&url).await;
    for login in [USERNAME, "alice@example.com"] {
        let refused = server
            .submit_login(&browser, &page, login, PASSWORD, false)
            .await;
        assert_eq!(refused.status.as_u16(), 429, "{}", refused.text);
        assert!(
            refused.text.contains("Too many"),
            "{login}: {}",
            refused.text
        );
    }
}

/// Ten failures from one address (different accounts) refuse the next attempt from that address,
/// even for a correct login; another address is not affected.
#[tokio::test]
async fn login_throttling_per_address() {
    let (server, client) = setup().await;
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    let browser = Browser::from_address("127.0.0.5");
    let page = browser.get(&url).await;
    for i in 0..10 {
        let answer = server
            .submit_login(
                &browser,
                &page,
                &format!("user{i}"),
                "wrong password",
                false,
            )
            .await;
        assert!(answer.text.contains("incorrect"), "{}", answer.text);
    }
    let refused = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert_eq!(refused.status.as_u16(), 429, "{}", refused.text);
    assert!(refused.text.contains("Too many"), "{}", refused.text);
    assert!(set_cookie_line(&refused, &session_cookie(ORG)).is_none());

    let elsewhere = Browser::from_address("127.0.0.6");
    let page = elsewhere.get(&url).await;
    let consent = server
        .submit_login(&elsewhere, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
}

// ---- prompt and max_age ----

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "none")]).await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    browser.get(&url).await.assert_authorization_error(
        REDIRECT_URI,
        "login_required",
        Some("state-123"),
        &server.issuer,
    );
    // The request is spent.
    browser.get(&url).await.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some("state-123"),
        &server.issuer,
    );
    // Signed in but without consent: consent_required. With consent: the code.
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page());
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "none")]).await;
    browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await
        .assert_authorization_error(
            REDIRECT_URI,
            "consent_required",
            Some("state-123"),
            &server.issuer,
        );
    server.submit_consent(&browser, &consent, true).await;
    let (request_uri, verifier) = push_with(&server, &client, &[("prompt", "none")]).await;
    let done = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// max_age: a session older than max_age sends the user to the login page again, and the new
/// login's time is the ID token's auth_time. max_age=0 always asks for a login.
#[tokio::test]
async fn max_age_requires_a_fresh_login() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let login_time = server.now();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;

    // Within max_age: single sign-on.
    server.clock.advance(30);
    let (request_uri, _) = push_with(&server, &client, &[("max_age", "60")]).await;
    browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await
        .assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);

    // Beyond max_age: the login page again.
    server.clock.advance(31);
    let (request_uri, verifier) = push_with(&server, &client, &[("max_age", "60")]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "{}", page.text);
    let relogin_time = server.now();
    assert_eq!(relogin_time, login_time + 61);
    let done = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["auth_time"], relogin_time);

    // max_age=0, in the very second of the last login: a login is still required.
    let (request_uri, _) = push_with(&server, &client, &[("max_age", "0")]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "{}", page.text);
    let done = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
}

/// A max_age as large as an i64 is a valid (if silly) value: no overflow, single sign-on works.
#[tokio::test]
async fn huge_max_age_is_handled() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let (request_uri, _) = push_with(&server, &client, &[("max_age", "9223372036854775807")]).await;
    let done = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
}

// ---- pages and redirects ----

fn assert_page_headers(answer: &Answer) {
    assert_eq!(
        answer.headers["x-frame-options"], "DENY",
        "{:?}",
        answer.headers
    );
    let csp = answer.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn interaction_pages_cannot_be_framed() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let login = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(login.is_login_page());
    assert_page_headers(&login);
    let failed = server
        .submit_login(&browser, &login, USERNAME, "wrong password", false)
        .await;
    assert_page_headers(&failed);
    let consent = server
        .submit_login(&browser, &login, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page());
    assert_page_headers(&consent);
    let error = browser
        .get(&format!("{}/authorize?client_id=nobody", server.issuer))
        .await;
    error.assert_error_page(400);
    assert_page_headers(&error);
}

/// Every redirect after a POST (and after the authorization GET) is 303 See Other, never 302/307.
#[tokio::test]
async fn redirects_after_posts_are_303() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    // Login (consent needed), then consent approve: 303.
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert_eq!(consent.status.as_u16(), 200);
    let approved = server.submit_consent(&browser, &consent, true).await;
    assert_eq!(approved.status.as_u16(), 303);
    // Login with consent remembered: the login POST itself answers 303.
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "login")]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let logged_in = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert_eq!(logged_in.status.as_u16(), 303);
    // Cancel and deny: 303.
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "login")]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert_eq!(
        server
            .submit_login(&browser, &page, "", "", true)
            .await
            .status
            .as_u16(),
        303
    );
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "consent")]).await;
    let consent = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(consent.is_consent_page());
    assert_eq!(
        server
            .submit_consent(&browser, &consent, false)
            .await
            .status
            .as_u16(),
        303
    );
    // Single sign-on at the authorization endpoint: 303 as well.
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let sso = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert_eq!(sso.status.as_u16(), 303);
}

/// Garbage posted to the login and consent endpoints: an error page or JSON 400, never a 500.
#[tokio::test]
async fn login_and_consent_never_answer_garbage_with_500() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page());
    let form = "application/x-www-form-urlencoded";
    let long = clavex_jose::random_token(3_750);
    for url in [login_url(&server), consent_url(&server)] {
        for body in [
            String::new(),
            "%%%&&&===&=&%zz".to_owned(),
            "client_id=&request_uri=&csrf=".to_owned(),
            format!("client_id={}&request_uri=nope&csrf=x", client.client_id),
            format!("client_id={long}&request_uri={long}&csrf={long}"),
            format!("client_id=nobody&request_uri={request_uri}&csrf=x"),
        ] {
            let answer = browser.post_raw(&url, form, &body).await;
            answer.assert_error_page(400);
        }
        // Repeated fields, NUL, non-UTF-8 and JSON bodies: a JSON invalid_request.
        for (content_type, body) in [
            (
                form,
                format!("client_id=a&client_id=b&request_uri={request_uri}"),
            ),
            (form, "client_id=%00".to_owned()),
            ("application/json", "{}".to_owned()),
        ] {
            let answer = browser.post_raw(&url, content_type, &body).await;
            assert_eq!(answer.status.as_u16(), 400, "{body}: {}", answer.text);
            assert_eq!(answer.error(), "invalid_request", "{body}");
        }
        let answer = Answer::from(
            browser
                .http
                .post(&url)
                .header("content-type", form)
                .body(vec![0xffu8, 0xfe, b'=', 0x80])
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_error(400, "invalid_request", "UTF-8");
    }
    // GET on the POST-only endpoints.
    for url in [login_url(&server), consent_url(&server)] {
        assert_eq!(browser.get(&url).await.status.as_u16(), 405);
    }
    // After all that, the real login still works.
    let consent = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(consent.is_consent_page(), "{}", consent.text);
}

/// A user deleted by an administrator is signed out everywhere: their session no longer counts.
#[tokio::test]
async fn session_of_a_deleted_user_no_longer_signs_in() {
    let server = spawn().await;
    let user_id = server.create_user().await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let deleted = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{ORG}/users/{user_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(deleted.status.as_u16(), 204, "{}", deleted.text);
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "{} {}", page.status, page.location());
    // prompt=none says login_required.
    let (request_uri, _) = push_with(&server, &client, &[("prompt", "none")]).await;
    browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await
        .assert_authorization_error(
            REDIRECT_URI,
            "login_required",
            Some("state-123"),
            &server.issuer,
        );
}

/// Sessions last eight hours (the cookie's Max-Age); afterwards the login page comes back.
#[tokio::test]
async fn session_expires_after_eight_hours() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    server.clock.advance(8 * 3600 - 1);
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await
        .assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    server.clock.advance(1);
    let (request_uri, _) = push_with(&server, &client, &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "{} {}", page.status, page.location());
}

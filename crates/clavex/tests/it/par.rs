//! Pushed authorization requests (RFC 9126, FAPI 2.0 SP §5.3.2.2): the PAR modules of the OIDF
//! `fapi2-security-profile-final-test-plan` (private_key_jwt + DPoP + plain_fapi + unsigned), one test
//! per module and named after it, plus Clavex's own PAR rules. Where the suite accepts several
//! outcomes, the test asserts the one Clavex chose (docs: conformance-suite.md §7, reject at PAR).

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

async fn setup() -> (TestServer, FapiClient) {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    (server, client)
}

/// §3.3: 201, JSON, `request_uri` with a long random part, `expires_in` 90 (5 ≤ x < 600).
#[tokio::test]
async fn par_response_is_201_with_request_uri_and_expires_in() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let par = server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
            &[],
        )
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    assert!(par.body.get("error").is_none());
    assert!(
        par.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(par.headers["cache-control"], "no-store");
    assert_eq!(par.body["expires_in"], 90);
    let request_uri = par.body["request_uri"].as_str().unwrap();
    let random = request_uri
        .strip_prefix("urn:ietf:params:oauth:request_uri:")
        .expect("request_uri is a URN");
    let bytes = clavex_jose::b64url_decode(random).expect("base64url random part");
    assert!(bytes.len() >= 16, "request_uri carries ≥ 128 random bits");
    // Two pushes never share a request_uri.
    let second = server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
            &[],
        )
        .await;
    assert_ne!(second.body["request_uri"], par.body["request_uri"]);
}

#[tokio::test]
async fn par_attempt_reuse_request_uri() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, verifier) = server.push_default(&client, "openid accounts").await;
    let done = server
        .login_and_approve(&browser, &client.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);

    // The same authorization URL again: in the browser that still has a session, and in a new one.
    let url = server.authorize_url(&client.client_id, &request_uri);
    let again = browser.get(&url).await;
    again.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some("state-123"),
        &server.issuer,
    );
    let elsewhere = Browser::new().get(&url).await;
    elsewhere.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some("state-123"),
        &server.issuer,
    );
}

/// The suite sleeps exactly `expires_in` seconds; no grace period is allowed. The request_uri
/// works one second before and is refused at `expires_in`, also for a login form loaded in time.
#[tokio::test]
async fn par_attempt_to_use_expired_request_uri() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (_, challenge) = pkce_128();
    let par = server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
            &[],
        )
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let expires_in = par.body["expires_in"].as_i64().unwrap();
    assert_eq!(expires_in, 90);
    let request_uri = par.body["request_uri"].as_str().unwrap();
    let url = server.authorize_url(&client.client_id, request_uri);

    server.clock.advance(expires_in - 1);
    let page = browser.get(&url).await;
    assert!(page.is_login_page(), "{}", page.text);

    server.clock.advance(1);
    let expired = browser.get(&url).await;
    expired.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some("state-123"),
        &server.issuer,
    );
    // The login form loaded one second earlier is refused the same way, and signs nobody in.
    let late = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    late.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request_uri",
        Some("state-123"),
        &server.issuer,
    );
    assert!(set_cookie_line(&late, &session_cookie(ORG)).is_none());
}

#[tokio::test]
async fn par_ensure_reused_request_uri_prior_to_auth_completion_succeeds() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, verifier) = server.push_default(&client, "openid accounts").await;
    let url = server.authorize_url(&client.client_id, &request_uri);
    // First visit: no login happens.
    let first = browser.get(&url).await;
    assert!(first.is_login_page(), "{}", first.text);
    // Second visit of the same URL, then login and consent.
    let done = server.interact(&browser, &url).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// Client 1's request_uri with client 2's client_id: an error page (Clavex cannot know whose redirect
/// URI to trust), and client 1's request stays usable.
#[tokio::test]
async fn par_attempt_to_use_request_uri_for_different_client() {
    let (server, client1) = setup().await;
    let client2 = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let (request_uri, verifier) = server.push_default(&client1, "openid accounts").await;

    let wrong = browser
        .get(&server.authorize_url(&client2.client_id, &request_uri))
        .await;
    wrong.assert_error_page(400);

    // The login form cannot be replayed under the other client either.
    let page = browser
        .get(&server.authorize_url(&client1.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "{}", page.text);
    let csrf = hidden_field(&page.text, "csrf").unwrap();
    let forged = browser
        .post(
            &format!("{}/login", server.issuer),
            &[
                ("client_id", client2.client_id.as_str()),
                ("request_uri", request_uri.as_str()),
                ("csrf", csrf.as_str()),
                ("username", USERNAME),
                ("password", PASSWORD),
                ("action", "login"),
            ],
        )
        .await;
    forged.assert_error_page(400);
    assert!(set_cookie_line(&forged, &session_cookie(ORG)).is_none());

    let done = server
        .login_and_approve(&browser, &client1.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client1, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

#[tokio::test]
async fn par_authorization_request_containing_request_uri_form_param() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push((
        "request_uri",
        "urn:fdc:authlete.com:L9j1fT2yEZ8ufuP3bgqO6FEMDfEJ_OqWpC7lWyHvbns",
    ));
    let par = server.par(&client, &params, &[]).await;
    par.assert_error(400, "invalid_request", "request_uri");
}

/// RFC 9126 §2: POST only. axum answers 405 with `Allow: POST`.
#[tokio::test]
async fn par_attempt_invalid_http_method() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let mut form = TestServer::authorization_params(&client, "openid accounts", &challenge);
    form.push(("client_id", &client.client_id));
    form.push(("client_assertion_type", JWT_BEARER));
    form.push(("client_assertion", &assertion));
    for method in [reqwest::Method::PUT, reqwest::Method::GET] {
        let answer = Answer::from(
            server
                .http
                .request(method.clone(), server.par_endpoint())
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 405, "{method}: {}", answer.text);
        assert_eq!(answer.headers["allow"], "POST", "{method}");
        assert!(answer.body.get("request_uri").is_none());
    }
}

#[tokio::test]
async fn par_ensure_pkce_required() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "code_challenge", None);
    set_param(&mut params, "code_challenge_method", None);
    server.par(&client, &params, &[]).await.assert_error(
        400,
        "invalid_request",
        "code_challenge is required",
    );
    // A method without a challenge is no better.
    set_param(&mut params, "code_challenge_method", Some("S256"));
    server.par(&client, &params, &[]).await.assert_error(
        400,
        "invalid_request",
        "code_challenge is required",
    );
    // Nor is a challenge without the method (RFC 7636 would default to plain).
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "code_challenge_method", None);
    server
        .par(&client, &params, &[])
        .await
        .assert_error(400, "invalid_request", "S256");
}

#[tokio::test]
async fn par_plain_pkce_rejected() {
    let (server, client) = setup().await;
    let (verifier, _) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &verifier);
    set_param(&mut params, "code_challenge_method", Some("plain"));
    server
        .par(&client, &params, &[])
        .await
        .assert_error(400, "invalid_request", "plain");
}

#[tokio::test]
async fn par_without_duplicate_parameters() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, verifier) = server.push_default(&client, "openid accounts").await;
    // Only client_id and request_uri in the authorization redirect.
    let url = server.authorize_url_at(ORG, &client.client_id, &request_uri, &[]);
    let query: Vec<(String, String)> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        query.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["client_id", "request_uri"]
    );
    let done = server.interact(&browser, &url).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let dpop_key = ClientKey::es256();
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let info = server
        .userinfo(tokens.body["access_token"].as_str().unwrap(), &dpop_key)
        .await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text);
}

// ---- [private_key_jwt] client assertions at the PAR endpoint ----

fn assertion_with(client: &FapiClient, claims: serde_json::Value) -> String {
    client.key.sign(None, None, claims)
}

#[tokio::test]
async fn par_ensure_jwt_client_assertions_nbf_8_seconds_in_the_future_is_accepted() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let now = server.now();
    let assertion = assertion_with(
        &client,
        json!({"iss": client.client_id, "sub": client.client_id, "aud": server.issuer,
               "jti": clavex_jose::random_token(15), "iat": now + 8, "nbf": now + 8, "exp": now + 68}),
    );
    let (verifier, challenge) = pkce_128();
    let par = server
        .par_with_assertion(
            &client,
            &assertion,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
        )
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let done = server
        .login_and_approve(
            &browser,
            &client.client_id,
            par.body["request_uri"].as_str().unwrap(),
        )
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

#[tokio::test]
async fn par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails() {
    let (server, client) = setup().await;
    let now = server.now();
    let assertion = assertion_with(
        &client,
        json!({"iss": client.client_id, "sub": client.client_id, "aud": server.issuer,
               "jti": clavex_jose::random_token(15), "iat": now + 62, "nbf": now + 62, "exp": now + 122}),
    );
    let (_, challenge) = pkce_128();
    let par = server
        .par_with_assertion(
            &client,
            &assertion,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
        )
        .await;
    par.assert_oauth_error(401, "invalid_client", "in the future");
}

/// PAR authenticated with an assertion whose `aud` is `aud(server)`.
async fn par_with_audience(aud: impl Fn(&TestServer) -> serde_json::Value) -> Answer {
    let (server, client) = setup().await;
    let now = server.now();
    let assertion = assertion_with(
        &client,
        json!({"iss": client.client_id, "sub": client.client_id, "aud": aud(&server),
               "jti": clavex_jose::random_token(15), "iat": now, "nbf": now, "exp": now + 60}),
    );
    let (_, challenge) = pkce_128();
    server
        .par_with_assertion(
            &client,
            &assertion,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
        )
        .await
}

#[tokio::test]
async fn par_test_array_as_audience_fails() {
    par_with_audience(|s| json!([s.issuer, s.token_endpoint]))
        .await
        .assert_oauth_error(401, "invalid_client", "aud");
}

#[tokio::test]
async fn par_test_par_endpoint_url_as_audience_fails() {
    par_with_audience(|s| json!(s.par_endpoint()))
        .await
        .assert_oauth_error(401, "invalid_client", "aud");
}

#[tokio::test]
async fn par_test_token_endpoint_url_as_audience_fails() {
    par_with_audience(|s| json!(s.token_endpoint))
        .await
        .assert_oauth_error(401, "invalid_client", "aud");
}

/// Control for the three audience tests: the issuer string is accepted.
#[tokio::test]
async fn par_issuer_as_audience_succeeds() {
    let answer = par_with_audience(|s| json!(s.issuer)).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
}

/// RFC 9126 §2 / FAPI 2.0: PAR requires client authentication.
#[tokio::test]
async fn par_without_client_authentication_fails() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut form = TestServer::authorization_params(&client, "openid accounts", &challenge);
    form.push(("client_id", &client.client_id));
    server.par_form(&form, &[]).await.assert_oauth_error(
        401,
        "invalid_client",
        "client authentication is required",
    );
    // A client assertion for another client's id does not authenticate this one.
    let other = server.fapi_client(json!({})).await;
    let assertion = other
        .key
        .assertion(&other.client_id, &server.issuer, server.now());
    form.push(("client_assertion_type", JWT_BEARER));
    form.push(("client_assertion", &assertion));
    server.par_form(&form, &[]).await.assert_oauth_error(
        401,
        "invalid_client",
        "client_id does not match",
    );
}

/// Clavex keeps state and nonce intact up to 4096 characters and refuses longer values at PAR.
#[tokio::test]
async fn par_state_and_nonce_longer_than_4096_are_rejected() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let max = "s".repeat(4096);
    let over = "s".repeat(4097);
    for name in ["state", "nonce"] {
        let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
        set_param(&mut params, name, Some(&max));
        let ok = server.par(&client, &params, &[]).await;
        assert_eq!(ok.status.as_u16(), 201, "{name}: {}", ok.text);
        set_param(&mut params, name, Some(&over));
        server.par(&client, &params, &[]).await.assert_oauth_error(
            400,
            "invalid_request",
            "longer than 4096",
        );
    }
    // A huge state (60 kB) is still a clean invalid_request, and one over the body limit as well.
    let huge = "s".repeat(60_000);
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "state", Some(&huge));
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "longer than 4096",
    );
    let too_big = "s".repeat(70_000);
    set_param(&mut params, "state", Some(&too_big));
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "larger than",
    );
}

/// Garbage at the PAR endpoint is answered with a precise 4xx, never a 500.
#[tokio::test]
async fn par_never_answers_garbage_with_500() {
    let (server, client) = setup().await;
    let raw = |content_type: &'static str, body: Vec<u8>| {
        let request = server
            .http
            .post(server.par_endpoint())
            .header("content-type", content_type)
            .body(body);
        async move { Answer::from(request.send().await.unwrap()).await }
    };
    raw(
        "application/x-www-form-urlencoded",
        b"%%%&&&===&=&%zz".to_vec(),
    )
    .await
    .assert_oauth_error(401, "invalid_client", "client authentication is required");
    raw(
        "application/x-www-form-urlencoded",
        vec![0xff, 0xfe, b'=', 0x80],
    )
    .await
    .assert_oauth_error(400, "invalid_request", "UTF-8");
    raw("application/json", br#"{"client_id":"x"}"#.to_vec())
        .await
        .assert_oauth_error(400, "invalid_request", "x-www-form-urlencoded");
    raw("application/x-www-form-urlencoded", Vec::new())
        .await
        .assert_oauth_error(401, "invalid_client", "client authentication is required");
    raw(
        "application/x-www-form-urlencoded",
        b"client_id=%00".to_vec(),
    )
    .await
    .assert_oauth_error(400, "invalid_request", "NUL");

    let (_, challenge) = pkce_128();
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let long_client = "c".repeat(5000);
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("max_age", "-1", 400, "invalid_request"),
        ("max_age", "1e3", 400, "invalid_request"),
        ("max_age", "99999999999999999999999", 400, "invalid_request"),
        ("claims", "not json", 400, "invalid_request"),
        ("claims", "[1,2]", 400, "invalid_request"),
        ("claims", &nested, 400, "invalid_request"),
        ("prompt", "bogus", 400, "invalid_request"),
        ("prompt", "none login", 400, "invalid_request"),
        ("dpop_jkt", "not-a-thumbprint", 400, "invalid_request"),
        ("scope", "open\"id", 400, "invalid_scope"),
        ("scope", "admin", 400, "invalid_scope"),
        ("response_mode", "fragment", 400, "invalid_request"),
        ("response_type", "", 400, "invalid_request"),
        (
            "redirect_uri",
            "https://tpp.example.com/callback#frag",
            400,
            "invalid_request",
        ),
        ("redirect_uri", "not a uri", 400, "invalid_request"),
        ("code_challenge", "short", 400, "invalid_request"),
        ("request", "eyJ.eyJ.sig", 400, "invalid_request_object"),
        (
            "authorization_details",
            "[{\"type\":\"x\"}]",
            400,
            "invalid_authorization_details",
        ),
    ];
    for (name, value, status, code) in cases {
        let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
        set_param(&mut params, name, Some(value));
        let answer = server.par(&client, &params, &[]).await;
        assert_eq!(
            (answer.status.as_u16(), answer.error()),
            (status, code),
            "{name}={:.40}: {}",
            value,
            answer.text
        );
    }
    // A repeated parameter (RFC 6749 §3.1).
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push(("state", "second"));
    server
        .par(&client, &params, &[])
        .await
        .assert_oauth_error(400, "invalid_request", "repeated");
    // A garbage DPoP header.
    server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
            &["garbage"],
        )
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "");
    // A 5000-character client_id names no client.
    let assertion = client
        .key
        .assertion(&long_client, &server.issuer, server.now());
    let mut form = TestServer::authorization_params(&client, "openid accounts", &challenge);
    form.push(("client_assertion_type", JWT_BEARER));
    form.push(("client_assertion", &assertion));
    server
        .par_form(&form, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "unknown client");
}

/// The client is identified by its assertion: a PAR without the `client_id` form parameter (as the
/// suite sends in its signed variant) is accepted, and the request is the assertion's client's.
#[tokio::test]
async fn par_without_client_id_form_parameter_succeeds() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let mut form = TestServer::authorization_params(&client, "openid accounts", &challenge);
    form.push(("client_assertion_type", JWT_BEARER));
    form.push(("client_assertion", &assertion));
    let par = server.par_form(&form, &[]).await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let request_uri = par.body["request_uri"].as_str().unwrap();
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

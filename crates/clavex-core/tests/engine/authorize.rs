//! The front channel of a pushed request (FAPI 2.0 SP §5.3.2.2): the `request_uri` is bound to its
//! client, lives `PAR_LIFETIME_SECS`, is unknown when never pushed and spent by the authorization
//! response; only pushed requests are served; `prompt` and `max_age` (OIDC Core §3.1.2.1) decide
//! whether an existing sign-in serves; the response carries `iss` (RFC 9207) or is JARM.

use clavex_core::flows::interaction::{ErrorPage, Interaction};
use clavex_core::policy::lifetimes::{
    AUTHORIZATION_RESPONSE_LIFETIME_SECS, PAR_LIFETIME_SECS, SESSION_LIFETIME_SECS,
};
use serde_json::json;

use crate::support::*;

async fn setup() -> (Harness, TestClient) {
    let harness = Harness::new().await;
    let client = harness.client(json!({})).await;
    (harness, client)
}

/// Pushes a valid request of `client` with these parameters changed; its `request_uri`.
async fn pushed(h: &Harness, client: &TestClient, changes: &[(&str, &str)]) -> String {
    let (mut form, _) = h.par_form(client);
    for (name, value) in changes {
        form = form.set(name, value);
    }
    h.push(&form, &[]).await.expect("PAR").request_uri
}

#[track_caller]
fn error_page(step: &Interaction) -> ErrorPage {
    match step {
        Interaction::ErrorPage(page) => *page,
        other => panic!("expected an error page, got {other:?}"),
    }
}

#[track_caller]
fn assert_login_page(step: &Interaction) {
    assert!(
        matches!(step, Interaction::Login(_)),
        "expected the login page, got {step:?}"
    );
}

#[tokio::test]
async fn login_consent_and_the_authorization_response() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    let Interaction::Login(view) = &step else {
        panic!("expected the login page, got {step:?}");
    };
    assert_eq!(view.client_id.as_str(), client.client_id);
    let scopes: Vec<&str> = view.scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(scopes, ["openid", "accounts"]);
    let step = h.sign_in(&client.client_id, &request_uri, &view.csrf).await;
    let Interaction::Consent(view) = &step else {
        panic!("expected the consent page, got {step:?}");
    };
    assert_eq!(view.username.as_deref(), Some(USERNAME));
    let step = h
        .consent(&client.client_id, &request_uri, &view.csrf, true)
        .await;
    let Interaction::Redirect(location) = &step else {
        panic!("expected the authorization response, got {step:?}");
    };
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?")),
        "{location}"
    );
    let params = redirect_params(&step);
    assert_eq!(params["state"], "state-1");
    assert_eq!(params["iss"], ISSUER);
    assert!(params["code"].len() >= 43, "{params:?}");
    assert!(!params.contains_key("error"));
}

#[tokio::test]
async fn the_registered_query_of_the_redirect_uri_is_kept() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[("redirect_uri", REDIRECT_URI_WITH_QUERY)]).await;
    let params = redirect_params(&h.approve(&client.client_id, &request_uri).await);
    assert_eq!(params["dummy1"], "lorem");
    assert_eq!(params["dummy2"], "ipsum");
    assert!(params.contains_key("code"));
}

#[tokio::test]
async fn request_uri_is_bound_to_its_client() {
    let (h, client) = setup().await;
    let other = h.client(json!({})).await;
    let request_uri = pushed(&h, &client, &[]).await;
    let step = h
        .authorize(Some(&other.client_id), Some(&request_uri))
        .await;
    assert_eq!(error_page(&step), ErrorPage::OtherClientsRequest);
    // The login form of the other client is refused the same way, and nothing is spent.
    let Interaction::Login(view) = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await
    else {
        panic!("expected the login page");
    };
    let step = h.sign_in(&other.client_id, &request_uri, &view.csrf).await;
    assert_eq!(error_page(&step), ErrorPage::OtherClientsRequest);
    let params = redirect_params(&h.approve(&client.client_id, &request_uri).await);
    assert!(params.contains_key("code"), "{params:?}");
}

#[tokio::test]
async fn request_uri_expires_after_its_lifetime() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[]).await;
    h.clock.advance(PAR_LIFETIME_SECS - 1);
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
    h.clock.advance(1);
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "invalid_request_uri", "request_uri has expired");
    assert_eq!(redirect_params(&step)["state"], "state-1");
}

#[tokio::test]
async fn unknown_request_uri_is_refused() {
    let (h, client) = setup().await;
    for unknown in [
        "urn:ietf:params:oauth:request_uri:never-pushed",
        "https://tpp.example.com/request.jwt",
    ] {
        let step = h.authorize(Some(&client.client_id), Some(unknown)).await;
        assert_eq!(error_page(&step), ErrorPage::UnknownRequest);
    }
}

#[tokio::test]
async fn request_uri_is_spent_by_the_authorization_response() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[]).await;
    // Opened twice before the response: both fine (a reload, a second tab).
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
    let params = redirect_params(&h.approve(&client.client_id, &request_uri).await);
    assert!(params.contains_key("code"));
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(
        &step,
        "invalid_request_uri",
        "request_uri has already been used",
    );
}

#[tokio::test]
async fn only_pushed_requests_are_served() {
    let (h, client) = setup().await;
    assert_eq!(
        error_page(&h.authorize(None, None).await),
        ErrorPage::MissingClientId
    );
    assert_eq!(
        error_page(&h.authorize(Some("no-such-client"), Some("urn:x")).await),
        ErrorPage::UnknownClient
    );
    assert_eq!(
        error_page(&h.authorize(Some(&client.client_id), None).await),
        ErrorPage::NotPushed
    );
    // An unpushed request naming an unregistered redirect URI gets a page, never a redirect.
    let unregistered = Form::new(&[
        ("client_id", &client.client_id),
        ("response_type", "code"),
        ("redirect_uri", "https://evil.example/callback"),
    ]);
    assert_eq!(
        error_page(&h.authorize_query(&unregistered).await),
        ErrorPage::NotPushed
    );
    // Naming a registered one exactly, the error goes back to the client.
    let registered = unregistered
        .set("redirect_uri", REDIRECT_URI)
        .set("state", "front-state");
    let step = h.authorize_query(&registered).await;
    assert_redirect_error(&step, "invalid_request", "must be pushed first");
    assert_eq!(redirect_params(&step)["state"], "front-state");
}

#[tokio::test]
async fn forms_are_bound_to_the_browser() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[]).await;
    let step = h
        .sign_in(&client.client_id, &request_uri, "forged-csrf")
        .await;
    assert_eq!(error_page(&step), ErrorPage::FormExpired);
    let step = h
        .consent(&client.client_id, &request_uri, "forged-csrf", true)
        .await;
    assert_eq!(error_page(&step), ErrorPage::FormExpired);
}

#[tokio::test]
async fn denied_consent_is_access_denied_and_spends_the_request() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[]).await;
    let Interaction::Login(view) = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await
    else {
        panic!("expected the login page");
    };
    let Interaction::Consent(view) = h.sign_in(&client.client_id, &request_uri, &view.csrf).await
    else {
        panic!("expected the consent page");
    };
    let step = h
        .consent(&client.client_id, &request_uri, &view.csrf, false)
        .await;
    assert_redirect_error(&step, "access_denied", "the user denied the request");
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "invalid_request_uri", "already been used");
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[("prompt", "none")]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "login_required", "the user is not signed in");
    // The answer used the request up.
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "invalid_request_uri", "already been used");
}

#[tokio::test]
async fn prompt_none_with_a_session_needs_a_remembered_consent() {
    let (h, client) = setup().await;
    // alice signs in and consents for `client`.
    let first = pushed(&h, &client, &[]).await;
    assert!(redirect_params(&h.approve(&client.client_id, &first).await).contains_key("code"));
    // Another client has no consent: consent_required.
    let other = h.client(json!({})).await;
    let request_uri = pushed(&h, &other, &[("prompt", "none")]).await;
    let step = h
        .authorize(Some(&other.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "consent_required", "the user has not consented");
    // The consented client gets its code without any page.
    let request_uri = pushed(&h, &client, &[("prompt", "none")]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert!(redirect_params(&step).contains_key("code"), "{step:?}");
    // A scope beyond the remembered consent is not covered.
    let request_uri = pushed(
        &h,
        &client,
        &[("prompt", "none"), ("scope", "openid payments")],
    )
    .await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_redirect_error(&step, "consent_required", "");
}

#[tokio::test]
async fn prompt_login_and_consent_ask_again() {
    let (h, client) = setup().await;
    let first = pushed(&h, &client, &[]).await;
    assert!(redirect_params(&h.approve(&client.client_id, &first).await).contains_key("code"));
    h.clock.advance(5);
    // Signed in and consented: a plain request goes straight to the code.
    let request_uri = pushed(&h, &client, &[]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert!(redirect_params(&step).contains_key("code"), "{step:?}");
    // prompt=login: the earlier sign-in does not count.
    let request_uri = pushed(&h, &client, &[("prompt", "login")]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert_login_page(&step);
    // prompt=consent: the remembered consent does not count.
    let request_uri = pushed(&h, &client, &[("prompt", "consent")]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert!(matches!(step, Interaction::Consent(_)), "{step:?}");
}

#[tokio::test]
async fn max_age_bounds_the_age_of_the_sign_in() {
    let (h, client) = setup().await;
    let first = pushed(&h, &client, &[]).await;
    assert!(redirect_params(&h.approve(&client.client_id, &first).await).contains_key("code"));
    h.clock.advance(100);
    let request_uri = pushed(&h, &client, &[("max_age", "99")]).await;
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
    let request_uri = pushed(&h, &client, &[("max_age", "0")]).await;
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
    let request_uri = pushed(&h, &client, &[("max_age", "100")]).await;
    let step = h
        .authorize(Some(&client.client_id), Some(&request_uri))
        .await;
    assert!(redirect_params(&step).contains_key("code"), "{step:?}");
}

#[tokio::test]
async fn the_session_ends_after_its_lifetime() {
    let (h, client) = setup().await;
    let first = pushed(&h, &client, &[]).await;
    assert!(redirect_params(&h.approve(&client.client_id, &first).await).contains_key("code"));
    h.clock.advance(SESSION_LIFETIME_SECS);
    let request_uri = pushed(&h, &client, &[]).await;
    assert_login_page(
        &h.authorize(Some(&client.client_id), Some(&request_uri))
            .await,
    );
}

#[tokio::test]
async fn jarm_response_is_a_signed_jwt() {
    let (h, client) = setup().await;
    let request_uri = pushed(&h, &client, &[("response_mode", "jwt")]).await;
    let params = redirect_params(&h.approve(&client.client_id, &request_uri).await);
    assert!(
        !params.contains_key("code") && !params.contains_key("iss"),
        "{params:?}"
    );
    let claims = jwt_claims(&params["response"]);
    assert_eq!(claims["iss"], json!(ISSUER));
    assert_eq!(claims["aud"], json!(client.client_id));
    assert_eq!(claims["state"], json!("state-1"));
    assert_eq!(
        claims["exp"],
        json!(h.now() + AUTHORIZATION_RESPONSE_LIFETIME_SECS)
    );
    assert!(claims["code"].as_str().is_some_and(|c| c.len() >= 43));
}

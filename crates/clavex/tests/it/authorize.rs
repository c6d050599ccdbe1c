//! The authorization endpoint (RFC 6749 §4.1, RFC 9126 §4, RFC 9207, FAPI 2.0 SP §5.3.2.2): the
//! request-parameter and authorization-endpoint modules of the OIDF
//! `fapi2-security-profile-final-test-plan` (private_key_jwt + DPoP + plain_fapi + unsigned;
//! openid_connect and plain_oauth), named after the modules. Clavex uses only pushed parameters,
//! ignores front-channel duplicates, and rejects at PAR whatever it can (conformance-suite.md §7).

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

async fn setup() -> (TestServer, FapiClient) {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    (server, client)
}

/// PAR with `params`, then the browser (login, consent) with `front` extra authorization-URL
/// parameters. Returns the final answer.
async fn authorize_with(
    server: &TestServer,
    client: &FapiClient,
    params: &[(&str, &str)],
    front: &[(&str, &str)],
) -> Answer {
    let request_uri = server.push(client, params).await;
    server
        .interact(
            &Browser::new(),
            &server.authorize_url_at(ORG, &client.client_id, &request_uri, front),
        )
        .await
}

/// The happy-flow module as far as the authorization server is concerned. The suite's authorization
/// redirect repeats `response_type`, `scope` and `redirect_uri` next to `client_id` and `request_uri`
/// (§3.4); client 2 uses the registered redirect URI with its own query, a 128-character state, a
/// 43-character nonce, the parameters in reverse alphabetical order, and binds the code with
/// `dpop_jkt` at PAR (no DPoP header there). Finally client 2's access token with client 1's DPoP
/// key is refused.
#[tokio::test]
async fn happy_flow() {
    let (server, client1) = setup().await;
    let mut client2 = server.fapi_client(json!({})).await;
    client2.redirect_uri = REDIRECT_URI_WITH_QUERY.to_owned();
    let dpop_key = ClientKey::es256();

    // Client 1: alphabetical duplicates.
    let (verifier, challenge) = pkce_128();
    let params = TestServer::authorization_params(&client1, "openid accounts", &challenge);
    let request_uri = server.push(&client1, &params).await;
    let mut url = url::Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client1.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("request_uri", &request_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid accounts");
    let done = server.interact(&Browser::new(), url.as_str()).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client1, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);

    // Client 2: reverse order, registered query, long state, 43-character nonce.
    let state = suite_state_128();
    let nonce = "n".repeat(43);
    let key2 = ClientKey::es256();
    let jkt2 = key2.thumbprint();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client2, "openid accounts", &challenge);
    set_param(&mut params, "state", Some(&state));
    set_param(&mut params, "nonce", Some(&nonce));
    params.push(("dpop_jkt", &jkt2));
    let request_uri = server.push(&client2, &params).await;
    let mut url = url::Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut()
        .append_pair("scope", "openid accounts")
        .append_pair("response_type", "code")
        .append_pair("request_uri", &request_uri)
        .append_pair("redirect_uri", REDIRECT_URI_WITH_QUERY)
        .append_pair("client_id", &client2.client_id);
    let done = server.interact(&Browser::new(), url.as_str()).await;
    let code = done.assert_authorization_code(
        "https://tpp.example.com/callback?",
        Some(&state),
        &server.issuer,
    );
    assert_eq!(done.redirect_param("dummy1").as_deref(), Some("lorem"));
    assert_eq!(done.redirect_param("dummy2").as_deref(), Some("ipsum"));
    assert!(
        done.location().starts_with(REDIRECT_URI_WITH_QUERY),
        "{}",
        done.location()
    );
    for (k, _) in done.redirect_params() {
        assert!(
            ["code", "state", "iss", "dummy1", "dummy2"].contains(&k.as_str()),
            "unexpected parameter {k}"
        );
    }
    let tokens2 = server.redeem_code(&client2, &code, &verifier, &key2).await;
    assert_eq!(tokens2.status.as_u16(), 200, "{}", tokens2.text);
    let (_, claims) = server.verified_id_token(&tokens2).await;
    assert_eq!(claims["nonce"], nonce.as_str());
    let access2 = tokens2.body["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo(access2, &key2).await.status.as_u16(), 200);
    // Client 2's access token with client 1's holder-of-key.
    let stolen = server.userinfo(access2, &dpop_key).await;
    assert_eq!(stolen.status.as_u16(), 401, "{}", stolen.text);
    let access1 = tokens.body["access_token"].as_str().unwrap();
    assert_eq!(
        server.userinfo(access1, &dpop_key).await.status.as_u16(),
        200
    );
}

#[tokio::test]
async fn ensure_authorization_request_without_state_success() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "state", None);
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, None, &server.issuer);
    assert!(!done.location().contains("state"), "{}", done.location());
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

#[tokio::test]
async fn ensure_authorization_request_without_nonce_success() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "nonce", None);
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert!(claims.get("nonce").is_none(), "{claims}");
}

/// The suite's 64-character nonce: 60 alphanumerics and `-._~`.
#[tokio::test]
async fn ensure_authorization_request_with_64_char_nonce_success() {
    let (server, client) = setup().await;
    let nonce = format!("{}-._~", "aB3".repeat(20));
    assert_eq!(nonce.len(), 64);
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "nonce", Some(&nonce));
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["nonce"], nonce.as_str());
}

/// Clavex accepts a 384-character nonce and returns it intact.
#[tokio::test]
async fn ensure_authorization_request_with_long_nonce() {
    let (server, client) = setup().await;
    let nonce: String = (0..384).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "nonce", Some(&nonce));
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["nonce"], nonce.as_str());
}

/// Clavex accepts a 1000-character state and returns it intact.
#[tokio::test]
async fn ensure_authorization_request_with_long_state() {
    let (server, client) = setup().await;
    let state: String = (0..1000).map(|i| (b'A' + (i % 26) as u8) as char).collect();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "state", Some(&state));
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some(&state), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

#[tokio::test]
async fn ensure_other_scope_order_succeeds() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let params = TestServer::authorization_params(&client, "accounts openid", &challenge);
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert_eq!(tokens.body["scope"], "accounts openid");
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["nonce"], "nonce-456");
}

/// No state pushed, `state=S` only in the authorization URL: success without any state.
#[tokio::test]
async fn state_only_outside_request_object_not_used() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "state", None);
    let done = authorize_with(&server, &client, &params, &[("state", "front-state")]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, None, &server.issuer);
    assert!(!done.location().contains("front-state"));
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// Pushed nonce N1, `nonce=N2` in the authorization URL: success, the ID token carries N1.
#[tokio::test]
async fn ensure_different_nonce_inside_and_outside_request_object() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    let done = authorize_with(&server, &client, &params, &[("nonce", "front-nonce")]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["nonce"], "nonce-456");
}

/// Pushed state S1, `state=S2` in the authorization URL: success, the response carries S1.
#[tokio::test]
async fn ensure_different_state_inside_and_outside_request_object() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    let done = authorize_with(&server, &client, &params, &[("state", "front-state")]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    assert!(!done.location().contains("front-state"));
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// `redirect_uri` missing from the pushed parameters (it would only be in the authorization URL):
/// rejected at PAR.
#[tokio::test]
async fn ensure_request_object_without_redirect_uri_fails() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "redirect_uri", None);
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "redirect_uri is required",
    );
}

/// `redirect_uri` absent everywhere: rejected at PAR even though the client has registered URIs
/// (FAPI 2.0 SP §5.3.2.2-6); a client with a single registered URI is no exception.
#[tokio::test]
async fn ensure_redirect_uri_in_authorization_request() {
    let server = spawn().await;
    let client = server
        .fapi_client(json!({"redirect_uris": [REDIRECT_URI]}))
        .await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "redirect_uri", None);
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "redirect_uri is required",
    );
}

/// plain_fapi only: an unregistered redirect URI (`…/callback/<random>`). Clavex rejects it at PAR.
#[tokio::test]
async fn plain_fapi_tolerate_unregistered_redirect_uri() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let unregistered = format!("{REDIRECT_URI}/{}", &clavex_jose::random_token(8)[..10]);
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "redirect_uri", Some(&unregistered));
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "not registered",
    );
    // Near misses are not registered either (exact string matching).
    for near in [
        "https://tpp.example.com/callback/",
        "https://TPP.example.com/callback",
        "https://tpp.example.com/callback?dummy1=lorem",
        "https://tpp.example.com:443/callback",
        "http://tpp.example.com/callback",
    ] {
        set_param(&mut params, "redirect_uri", Some(near));
        server.par(&client, &params, &[]).await.assert_oauth_error(
            400,
            "invalid_request",
            "not registered",
        );
    }
}

/// Everything in the authorization URL, no PAR: the redirect URI is registered exactly, so the
/// error goes there (invalid_request with the front-channel state and iss).
#[tokio::test]
async fn ensure_unsigned_authorization_request_without_using_par_fails() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push(("client_id", &client.client_id));
    params.sort();
    let mut url = url::Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut().extend_pairs(params.iter());
    let browser = Browser::new();
    let answer = browser.get(url.as_str()).await;
    answer.assert_authorization_error(
        REDIRECT_URI,
        "invalid_request",
        Some("state-123"),
        &server.issuer,
    );
    // No login page, no code, no session: nothing happened.
    assert!(set_cookie_line(&answer, &session_cookie(ORG)).is_none());
}

#[tokio::test]
async fn ensure_response_type_code_idtoken_fails() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "response_type", Some("code id_token"));
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "unsupported_response_type",
        "only code",
    );
}

#[tokio::test]
async fn ensure_response_type_token_fails() {
    let (server, client) = setup().await;
    let (_, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    set_param(&mut params, "response_type", Some("token"));
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "unsupported_response_type",
        "only code",
    );
    set_param(&mut params, "response_type", None);
    server.par(&client, &params, &[]).await.assert_oauth_error(
        400,
        "invalid_request",
        "response_type is required",
    );
}

/// plain_oauth: no `openid` scope, no nonce: the flow works and no ID token is issued.
#[tokio::test]
async fn plain_oauth_happy_flow_without_openid() {
    let (server, client) = setup().await;
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "accounts", &challenge);
    set_param(&mut params, "nonce", None);
    let done = authorize_with(&server, &client, &params, &[]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert!(tokens.body.get("id_token").is_none(), "{}", tokens.text);
    assert_eq!(tokens.body["scope"], "accounts");
    assert_eq!(tokens.body["token_type"], "DPoP");
}

/// No open redirector: whatever the front channel says, an error never goes to a URI that is not
/// registered exactly for the client named.
#[tokio::test]
async fn errors_never_redirect_to_an_unregistered_uri() {
    let (server, client) = setup().await;
    let other = server
        .fapi_client(json!({"redirect_uris": ["https://other.example.com/cb"]}))
        .await;
    let browser = Browser::new();
    let evil = "https://evil.example.com/callback";
    let page = |query: Vec<(&str, &str)>| {
        let mut url = url::Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
        url.query_pairs_mut().extend_pairs(query.iter());
        url.to_string()
    };
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // No PAR and an unregistered redirect URI.
        vec![
            ("client_id", &client.client_id),
            ("redirect_uri", evil),
            ("response_type", "code"),
            ("state", "x"),
        ],
        // No PAR and another client's registered redirect URI.
        vec![
            ("client_id", &client.client_id),
            ("redirect_uri", "https://other.example.com/cb"),
            ("state", "x"),
        ],
        // An unknown client with a redirect URI.
        vec![
            ("client_id", "no-such-client"),
            ("redirect_uri", evil),
            ("request_uri", "urn:ietf:params:oauth:request_uri:abc"),
        ],
        // An unknown request_uri with a redirect URI.
        vec![
            ("client_id", &client.client_id),
            ("request_uri", "urn:ietf:params:oauth:request_uri:unknown"),
            ("redirect_uri", evil),
        ],
        // No client_id at all.
        vec![("redirect_uri", evil), ("state", "x")],
    ];
    for query in cases {
        let answer = browser.get(&page(query.clone())).await;
        answer.assert_error_page(400);
        assert!(!answer.text.contains("evil.example.com"), "{query:?}");
    }
    // A pushed request of one client, opened with the other client's id and redirect URI.
    let (request_uri, _) = server.push_default(&client, "openid accounts").await;
    let answer = browser
        .get(&server.authorize_url_at(
            ORG,
            &other.client_id,
            &request_uri,
            &[("redirect_uri", "https://other.example.com/cb")],
        ))
        .await;
    answer.assert_error_page(400);
    // A pushed request with an unregistered redirect URI in the front channel: the pushed one is
    // used, even for errors (here: the user cancels).
    let page = browser
        .get(&server.authorize_url_at(
            ORG,
            &client.client_id,
            &request_uri,
            &[("redirect_uri", evil)],
        ))
        .await;
    let cancelled = server.submit_login(&browser, &page, "", "", true).await;
    cancelled.assert_authorization_error(
        REDIRECT_URI,
        "access_denied",
        Some("state-123"),
        &server.issuer,
    );
}

/// Garbage at the authorization endpoint: an error page (400) or, for bytes that no parameter may
/// contain, a JSON invalid_request; never a 500.
#[tokio::test]
async fn authorization_endpoint_never_answers_garbage_with_500() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (request_uri, _) = server.push_default(&client, "openid accounts").await;
    // Random (incompressible) and long.
    let long = clavex_jose::random_token(3_750);
    let authorize = format!("{}/authorize", server.issuer);
    let pages = [
        String::new(),
        "?".to_owned(),
        "?%%%&&&===&=&%zz".to_owned(),
        "?client_id=%ZZ&request_uri=%".to_owned(),
        format!(
            "?client_id={}&client_id={}",
            client.client_id, client.client_id
        ),
        format!("?client_id={}", client.client_id),
        format!("?request_uri={request_uri}"),
        format!("?client_id={long}&request_uri={long}"),
        format!("?client_id={}&request_uri={long}", client.client_id),
        format!(
            "?client_id={}&request_uri={request_uri}&request_uri=x",
            client.client_id
        ),
        format!("?client_id=%E2%82&request_uri={request_uri}"),
        "?client_id=\u{1F600}".to_owned(),
    ];
    for query in &pages {
        let answer = browser.get(&format!("{authorize}{query}")).await;
        answer.assert_error_page(400);
    }
    // NUL can never be part of a parameter: a JSON invalid_request.
    let answer = browser
        .get(&format!("{authorize}?client_id=%00&request_uri=x"))
        .await;
    answer.assert_error(400, "invalid_request", "NUL");
    // An unknown organization.
    let answer = browser
        .get(&format!("{}/nope/authorize?client_id=x", server.base))
        .await;
    assert_eq!(answer.status.as_u16(), 404, "{}", answer.text);
    // The real request still works afterwards.
    let done = server
        .login_and_approve(&browser, &client.client_id, &request_uri)
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
}

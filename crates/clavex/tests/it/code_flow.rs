//! The FAPI 2.0 authorization-code flow end to end over HTTP: PAR, authorization endpoint, the login
//! and consent pages (driven by a cookie-keeping HTTP client; the real-browser test is separate),
//! PKCE, DPoP-bound code redemption, ID token, UserInfo and refresh.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

#[tokio::test]
async fn happy_flow_with_openid_connect() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();

    let (verifier, challenge) = pkce();
    let par = server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid profile email accounts", &challenge),
            &[],
        )
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    assert_eq!(par.headers["cache-control"], "no-store");
    let request_uri = par.body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(request_uri.len() > "urn:ietf:params:oauth:request_uri:".len() + 40);
    assert_eq!(par.body["expires_in"], 90);

    let done = server
        .login_and_approve(&browser, &client.client_id, &request_uri)
        .await;
    assert_eq!(done.status.as_u16(), 303, "{}", done.text);
    assert!(done.location().starts_with(REDIRECT_URI));
    assert_eq!(done.redirect_param("state").as_deref(), Some("state-123"));
    assert_eq!(
        done.redirect_param("iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = done.redirect_param("code").unwrap();
    assert!(code.len() >= 43);

    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert_eq!(tokens.body["token_type"], "DPoP");
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let (_, at) = decode_unverified(access_token);
    assert_eq!(at["cnf"]["jkt"], dpop_key.thumbprint());
    assert_eq!(at["client_id"], client.client_id);
    let id_token = tokens.body["id_token"]
        .as_str()
        .expect("id_token with openid");
    let (header, claims) = decode_unverified(id_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["aud"], client.client_id);
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], at["sub"]);
    assert!(claims["auth_time"].is_i64());
    let jwks = server.get(&format!("/{ORG}/jwks")).await.body;
    verify_with_jwks(id_token, &jwks).expect("ID token verifies with the published JWKS");
    verify_with_jwks(access_token, &jwks).expect("access token verifies");
    assert!(
        tokens.body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() >= 43)
    );

    let info = server.userinfo(access_token, &dpop_key).await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text);
    assert_eq!(info.body["sub"], claims["sub"]);
    assert_eq!(info.body["email"], "alice@example.com");
    assert_eq!(info.body["given_name"], "Alice");

    // Refresh with a new DPoP key (RFC 9449 §5): allowed, and the new token is bound to the new key.
    let new_key = ClientKey::es256();
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let proof = new_key.dpop_proof("POST", &server.token_endpoint, server.now());
    let refreshed = server
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens.body["refresh_token"].as_str().unwrap(),
                ),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            &[&proof],
        )
        .await;
    assert_eq!(refreshed.status.as_u16(), 200, "{}", refreshed.text);
    let (_, at2) = decode_unverified(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(at2["cnf"]["jkt"], new_key.thumbprint());
    let (_, id2) = decode_unverified(refreshed.body["id_token"].as_str().unwrap());
    assert_eq!(id2["sub"], claims["sub"]);
    assert_eq!(id2["auth_time"], claims["auth_time"]);
}

#[tokio::test]
async fn plain_oauth_flow_has_no_id_token_and_keeps_registered_query() {
    let server = spawn().await;
    server.create_user().await;
    let mut client = server.fapi_client(json!({})).await;
    client.redirect_uri = "https://tpp.example.com/callback?dummy1=lorem&dummy2=ipsum".to_owned();
    let browser = Browser::new();
    let (code_done, verifier) = {
        let (verifier, challenge) = pkce();
        let par = server
            .par(
                &client,
                &TestServer::authorization_params(&client, "accounts", &challenge),
                &[],
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
        (done, verifier)
    };
    assert_eq!(code_done.redirect_param("dummy1").as_deref(), Some("lorem"));
    assert_eq!(code_done.redirect_param("dummy2").as_deref(), Some("ipsum"));
    let code = code_done.redirect_param("code").unwrap();
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert!(tokens.body.get("id_token").is_none());
}

#[tokio::test]
async fn second_redemption_fails_and_revokes_the_grant() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let first = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text);
    let second = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    second.assert_error(400, "invalid_grant", "already been used");
    // The first access token is dead at userinfo, and the refresh token no longer works.
    let info = server
        .userinfo(first.body["access_token"].as_str().unwrap(), &dpop_key)
        .await;
    assert_eq!(info.status.as_u16(), 401, "{}", info.text);
    assert!(
        info.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\"")
    );
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let proof = dpop_key.dpop_proof("POST", &server.token_endpoint, server.now());
    let refresh = server
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    first.body["refresh_token"].as_str().unwrap(),
                ),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            &[&proof],
        )
        .await;
    refresh.assert_error(400, "invalid_grant", "");
}

#[tokio::test]
async fn sso_session_skips_login_and_remembered_consent_skips_consent() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    // Second authorization in the same browser: neither login nor consent page; straight to the code.
    let (_, challenge) = pkce();
    let par = server
        .par(
            &client,
            &TestServer::authorization_params(&client, "openid accounts", &challenge),
            &[],
        )
        .await;
    let answer = browser
        .get(&server.authorize_url(&client.client_id, par.body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(answer.status.as_u16(), 303, "{}", answer.text);
    assert!(answer.redirect_param("code").is_some());
    // prompt=login forces the login page again despite the session.
    let (_, challenge) = pkce();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push(("prompt", "login"));
    let par = server.par(&client, &params, &[]).await;
    let answer = browser
        .get(&server.authorize_url(&client.client_id, par.body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(answer.status.as_u16(), 200);
    assert!(answer.text.contains("id=\"password\""));
}

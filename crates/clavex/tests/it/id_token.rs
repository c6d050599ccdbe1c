//! The ID token (OIDC Core §2, §3.1.3.6; FAPI 2.0 SP §5.4): every check of conformance-suite.md
//! §4.1 for the openid_connect variant, with ES256 by default and the client's registered
//! `id_token_signed_response_alg` (PS256, EdDSA) otherwise.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::{Value, json};

/// PAR with the usual parameters (`nonce` as given), login at the current time, then `delay`
/// seconds later the token request. Returns (token response, login time, redemption time).
async fn tokens_for(
    server: &TestServer,
    client: &FapiClient,
    nonce: Option<&str>,
    delay: i64,
    dpop_key: &ClientKey,
) -> (Answer, i64, i64) {
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(client, "openid accounts", &challenge);
    set_param(&mut params, "nonce", nonce);
    let request_uri = server.push(client, &params).await;
    let login_time = server.now();
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    server.clock.advance(delay);
    let redeemed_at = server.now();
    let tokens = server.redeem_code(client, &code, &verifier, dpop_key).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    (tokens, login_time, redeemed_at)
}

/// The published key with the ID token's `kid`, checked as the suite does: same `kty`, `alg`
/// (when the key has one) equal to the header's, `use` sig when present, and no second key with the
/// same kid, alg, use and kty.
async fn assert_signing_key(server: &TestServer, header: &Value, kty: &str) {
    let jwks = server.get(&format!("/{ORG}/jwks")).await.body;
    let kid = header["kid"].as_str().expect("kid in the ID token header");
    let keys = jwks["keys"].as_array().unwrap();
    for key in keys {
        assert!(
            key["kid"].as_str().is_some_and(|k| !k.is_empty()),
            "every published key has a kid: {key}"
        );
        assert!(key.get("d").is_none(), "public keys only");
    }
    let matching: Vec<&Value> = keys.iter().filter(|k| k["kid"] == kid).collect();
    assert_eq!(matching.len(), 1, "exactly one key with kid {kid}");
    let key = matching[0];
    assert_eq!(key["kty"], kty);
    if let Some(alg) = key.get("alg") {
        assert_eq!(alg, &header["alg"]);
    }
    if let Some(usage) = key.get("use") {
        assert_eq!(usage, "sig");
    }
}

#[tokio::test]
async fn id_token_claims_and_signature() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let dpop_key = ClientKey::es256();
    let (tokens, login_time, redeemed_at) =
        tokens_for(&server, &client, Some("nonce-456"), 20, &dpop_key).await;
    let (header, claims) = server.verified_id_token(&tokens).await;

    assert_eq!(header["alg"], "ES256");
    assert_signing_key(&server, &header, "EC").await;
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["aud"], client.client_id);
    assert_eq!(claims["azp"], client.client_id);
    assert_eq!(claims["iat"], redeemed_at);
    assert_eq!(claims["exp"], redeemed_at + 300);
    assert_eq!(claims["auth_time"], login_time);
    assert_eq!(claims["nonce"], "nonce-456");
    let sub = claims["sub"].as_str().unwrap();
    assert!(!sub.is_empty() && sub.len() <= 255);
    assert!(sub.bytes().all(|b| (0x21..=0x7E).contains(&b)), "{sub}");
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let (_, at) = decode_unverified(access_token);
    assert_eq!(claims["sub"], at["sub"]);
    // OIDC Core §3.1.3.6: at_hash = base64url(left half of SHA-256(access token)).
    let digest = clavex_jose::sha256(access_token.as_bytes());
    assert_eq!(claims["at_hash"], b64(&digest[..16]));
    // Nothing beyond what the suite expects without requested claims (happy flow, client 1).
    let allowed = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "at_hash",
        "c_hash",
        "s_hash",
        "nbf",
        "jti",
        "sid",
        "txn",
    ];
    for name in claims.as_object().unwrap().keys() {
        assert!(allowed.contains(&name.as_str()), "unexpected claim {name}");
    }
}

/// `nonce` is in the ID token exactly when it was pushed.
#[tokio::test]
async fn id_token_nonce_exactly_when_sent() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let key = ClientKey::es256();
    let (with, _, _) = tokens_for(&server, &client, Some("n-0123456789"), 0, &key).await;
    let (_, claims) = server.verified_id_token(&with).await;
    assert_eq!(claims["nonce"], "n-0123456789");
    let (without, _, _) = tokens_for(&server, &client, None, 0, &key).await;
    let (_, claims) = server.verified_id_token(&without).await;
    assert!(claims.get("nonce").is_none(), "{claims}");
}

/// A client that registers `id_token_signed_response_alg` gets its ID tokens signed with it.
#[tokio::test]
async fn id_token_signed_with_the_registered_algorithm() {
    let server = spawn().await;
    server.create_user().await;
    let key = ClientKey::es256();
    for (registered, alg, kty) in [
        ("PS256", "PS256", "RSA"),
        ("EdDSA", "EdDSA", "OKP"),
        ("Ed25519", "EdDSA", "OKP"),
        ("ES256", "ES256", "EC"),
    ] {
        let client = server
            .fapi_client(json!({"id_token_signed_response_alg": registered}))
            .await;
        let (tokens, _, _) = tokens_for(&server, &client, Some("nonce-456"), 0, &key).await;
        let (header, claims) = server.verified_id_token(&tokens).await;
        assert_eq!(header["alg"], alg, "registered {registered}");
        assert_signing_key(&server, &header, kty).await;
        assert_eq!(claims["aud"], client.client_id);
        assert_eq!(claims["nonce"], "nonce-456");
        // OIDC Core §3.1.3.6 with the ID token's alg: SHA-256 for PS256/ES256, SHA-512 for EdDSA.
        let access_token = tokens.body["access_token"].as_str().unwrap().as_bytes();
        let expected = if alg == "EdDSA" {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token);
            b64(&digest.as_ref()[..32])
        } else {
            b64(&clavex_jose::sha256(access_token)[..16])
        };
        assert_eq!(claims["at_hash"], expected, "at_hash for {alg}");
    }
    // Algorithms outside FAPI 2.0 cannot be registered.
    for bad in ["RS256", "none", "HS256"] {
        let answer = server
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{ORG}/clients"),
                ORG_TOKEN,
                Some(json!({
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": key.jwks(),
                    "id_token_signed_response_alg": bad,
                })),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 400, "{bad}: {}", answer.text);
        assert_eq!(answer.error(), "invalid_client_metadata", "{bad}");
    }
}

/// plain_oauth: without `openid` there is no ID token, even if a nonce was pushed.
#[tokio::test]
async fn no_id_token_without_openid_scope() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let (verifier, challenge) = pkce_128();
    let params = TestServer::authorization_params(&client, "accounts", &challenge);
    let request_uri = server.push(&client, &params).await;
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert!(tokens.body.get("id_token").is_none(), "{}", tokens.text);
}

/// Single sign-on: a later authorization's ID token keeps the original auth_time.
#[tokio::test]
async fn id_token_auth_time_is_the_time_of_the_login() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let login_time = server.now();
    server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    server.clock.advance(120);
    let (request_uri, verifier) = server.push_default(&client, "openid accounts").await;
    let done = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, claims) = server.verified_id_token(&tokens).await;
    assert_eq!(claims["auth_time"], login_time);
    assert_eq!(claims["iat"], login_time + 120);
}

/// The claims-parameter module: every supported standard claim requested for the ID token and for
/// UserInfo in the suite's forms (null, essential, value, values), plus an unknown location that must
/// be ignored. The ID token carries them with valid types; UserInfo's `sub` equals the ID token's.
#[tokio::test]
async fn test_claims_parameter_identity_claims() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let discovery = server
        .get(&format!("/{ORG}/.well-known/openid-configuration"))
        .await;
    assert_eq!(discovery.body["claims_parameter_supported"], true);
    let supported = discovery.body["claims_supported"]
        .as_array()
        .unwrap()
        .clone();
    for name in [
        "email",
        "given_name",
        "family_name",
        "name",
        "preferred_username",
    ] {
        assert!(supported.contains(&json!(name)), "{name}");
    }
    let requested = json!({
        "email": null,
        "email_verified": {"essential": true},
        "given_name": {"value": "Alice"},
        "family_name": {"values": ["Doe", "Smith"]},
        "name": {"essential": false},
        "preferred_username": null,
        "updated_at": null,
        "sub": null,
        "iss": null,
    });
    let claims_param = json!({
        "id_token": requested,
        "userinfo": requested,
        "x7qk2m": {"f9zt": null},
    })
    .to_string();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push(("claims", &claims_param));
    let request_uri = server.push(&client, &params).await;
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let dpop_key = ClientKey::es256();
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, id) = server.verified_id_token(&tokens).await;
    assert_eq!(id["email"], "alice@example.com");
    assert!(id["email_verified"].is_boolean(), "{id}");
    assert_eq!(id["given_name"], "Alice");
    assert_eq!(id["family_name"], "Doe");
    assert_eq!(id["name"], "Alice Doe");
    assert_eq!(id["preferred_username"], USERNAME);
    let updated_at = id["updated_at"].as_i64().expect("updated_at is a number");
    assert!(updated_at <= server.now() && updated_at > server.now() - 3600);
    // Requesting registered claims changes nothing about them.
    assert_eq!(id["iss"], server.issuer);
    assert!(id.get("f9zt").is_none());

    let info = server
        .userinfo(tokens.body["access_token"].as_str().unwrap(), &dpop_key)
        .await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text);
    assert!(
        info.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(info.body["sub"], id["sub"]);
    assert_eq!(info.body["email"], "alice@example.com");
    assert_eq!(info.body["given_name"], "Alice");
    assert!(info.body.get("f9zt").is_none());
}

/// `acr_values` is a wish, not a fact: Clavex signs users in with a password only, so the ID token
/// never claims a requested authentication context class it did not perform (OIDC Core §3.1.2.1:
/// `acr` is the class *satisfied*). Requesting `acr` through `claims` does not conjure one either.
#[tokio::test]
async fn id_token_does_not_claim_a_requested_acr() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let claims_param =
        json!({"id_token": {"acr": {"essential": true, "values": ["urn:example:loa4"]}}})
            .to_string();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    params.push(("acr_values", "urn:example:loa4 urn:example:loa3"));
    params.push(("claims", &claims_param));
    let request_uri = server.push(&client, &params).await;
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, id) = server.verified_id_token(&tokens).await;
    assert!(id.get("acr").is_none(), "{id}");
}

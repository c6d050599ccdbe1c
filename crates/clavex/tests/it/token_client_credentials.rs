//! `client_credentials` with `private_key_jwt` and DPoP: the happy path.

use clavex_testkit::*;

#[tokio::test]
async fn client_credentials_yields_dpop_bound_jwt_access_token() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let dpop_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;

    let answer = server
        .client_credentials(&client_id, &client_key, &dpop_key, &[("scope", "accounts")])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");
    assert_eq!(answer.body["expires_in"], 300);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let (header, claims) = decode_unverified(answer.body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["sub"], client_id);
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["aud"], format!("{}/api", server.issuer));
    assert_eq!(claims["scope"], "accounts");
    assert_eq!(claims["cnf"]["jkt"], dpop_key.thumbprint());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
}

#[tokio::test]
async fn access_token_verifies_against_the_published_jwks() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let dpop_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;

    let answer = server
        .client_credentials(&client_id, &client_key, &dpop_key, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(answer.headers["pragma"], "no-cache");
    let token = answer.body["access_token"].as_str().unwrap();
    let jwks = server.get("/acme/jwks").await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.text);
    let claims = verify_with_jwks(token, &jwks.body).expect("token verifies");
    assert_eq!(claims["sub"], client_id);

    // Without `scope` nothing is granted, and neither the response nor the token has a scope.
    assert!(answer.body.get("scope").is_none(), "{}", answer.text);
    assert!(claims.get("scope").is_none(), "{claims}");

    // A tampered token does not verify (so the check above means something).
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut forged = claims.clone();
    forged["sub"] = serde_json::json!("someone-else");
    let forged = format!("{head}.{}.{sig}", b64(forged.to_string().as_bytes()));
    assert!(verify_with_jwks(&forged, &jwks.body).is_err());
}

#[tokio::test]
async fn scopes_are_deduplicated_and_tokens_are_distinct() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let dpop_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;

    let first = server
        .client_credentials(
            &client_id,
            &client_key,
            &dpop_key,
            &[("scope", "payments  accounts payments")],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["scope"], "payments accounts");
    let (_, first_claims) = decode_unverified(first.body["access_token"].as_str().unwrap());
    assert_eq!(first_claims["scope"], "payments accounts");

    let second = server
        .client_credentials(&client_id, &client_key, &dpop_key, &[])
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let (_, second_claims) = decode_unverified(second.body["access_token"].as_str().unwrap());
    assert_ne!(first_claims["jti"], second_claims["jti"]);
    assert_ne!(first.body["access_token"], second.body["access_token"]);
}

#[tokio::test]
async fn default_audience_may_be_named_as_resource_and_lifetime_follows_the_org() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let dpop_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;
    let default_audience = format!("{}/api", server.issuer);

    server
        .patch_org(serde_json::json!({ "access_token_lifetime": 120 }))
        .await;
    let answer = server
        .client_credentials(
            &client_id,
            &client_key,
            &dpop_key,
            &[("resource", default_audience.as_str())],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["expires_in"], 120);
    let (_, claims) = decode_unverified(answer.body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], default_audience);
    assert_eq!(claims["iat"], server.now());
    assert_eq!(claims["exp"], server.now() + 120);
}

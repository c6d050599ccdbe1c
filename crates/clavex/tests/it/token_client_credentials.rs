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

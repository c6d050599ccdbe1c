//! The refresh-token grant (RFC 6749 §6, RFC 9449 §5, FAPI 2.0 SP §5.3.2.1-9): the `refresh-token`
//! module of the OIDF `fapi2-security-profile-final-test-plan` (private_key_jwt + DPoP + plain_fapi,
//! openid_connect) and Clavex's own refresh rules. Refresh tokens of these confidential clients are
//! bound to the client, not to a DPoP key, and are not rotated.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

const SCOPE: &str = "openid accounts";

/// RFC 6749 VSCHAR (%x20-7E), and at least 128 bits.
fn assert_credential(value: &str) {
    assert!(
        value.bytes().all(|b| (0x20..=0x7E).contains(&b)),
        "VSCHAR: {value}"
    );
    let bytes = clavex_jose::b64url_decode(value).expect("base64url credential");
    assert!(bytes.len() >= 16, "{} bits", bytes.len() * 8);
}

#[tokio::test]
async fn refresh_token() {
    let server = spawn().await;
    server.create_user().await;
    let client1 = server.fapi_client(json!({})).await;
    let mut client2 = server.fapi_client(json!({})).await;
    client2.redirect_uri = REDIRECT_URI_WITH_QUERY.to_owned();
    let discovery = server
        .get(&format!("/{ORG}/.well-known/openid-configuration"))
        .await;
    assert!(
        discovery.body["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("refresh_token"))
    );

    // ---- client 1 ----
    let key1 = ClientKey::es256();
    let tokens1 = server
        .full_flow(&Browser::new(), &client1, SCOPE, &key1)
        .await;
    let refresh1 = tokens1.body["refresh_token"].as_str().unwrap().to_owned();
    assert_credential(&refresh1);
    let (_, id1) = server.verified_id_token(&tokens1).await;

    // One second later, with a newly generated DPoP key and the full scope.
    server.clock.advance(1);
    let new_key = ClientKey::es256();
    let refreshed = server
        .refresh(&client1, &refresh1, &new_key, &[("scope", SCOPE)])
        .await;
    assert_eq!(refreshed.status.as_u16(), 200, "{}", refreshed.text);
    assert!(
        refreshed.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        refreshed.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    assert_eq!(refreshed.body["token_type"], "DPoP");
    let expires_in = refreshed.body["expires_in"].as_i64().unwrap();
    assert!(expires_in > 0 && expires_in <= 31_536_000);
    let access = refreshed.body["access_token"].as_str().unwrap();
    assert!(access.len() >= 16 && access.bytes().all(|b| (0x20..=0x7E).contains(&b)));
    let (_, at) = decode_unverified(access);
    assert_eq!(at["cnf"]["jkt"], new_key.thumbprint());
    // No rotation: no new refresh token is issued.
    assert!(
        refreshed.body.get("refresh_token").is_none(),
        "{}",
        refreshed.text
    );
    // The refreshed ID token describes the same authentication; only iat moves.
    let (_, id2) = server.verified_id_token(&refreshed).await;
    for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(id2[claim], id1[claim], "{claim}");
    }
    assert_ne!(id2["iat"], id1["iat"]);
    assert!(id2.get("nonce").is_none(), "{id2}");
    // The new access token works with the new key, not with the old one.
    assert_eq!(server.userinfo(access, &new_key).await.status.as_u16(), 200);
    assert_eq!(server.userinfo(access, &key1).await.status.as_u16(), 401);

    // The same refresh token again, 30 s later: still valid.
    server.clock.advance(30);
    let again = server.refresh(&client1, &refresh1, &key1, &[]).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.text);

    // (a) Without any client authentication (DPoP proof still sent).
    let proof = server.token_proof(&new_key);
    server
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
            ],
            &[&proof],
        )
        .await
        .assert_oauth_error(401, "invalid_client", "client authentication is required");
    // (b) Without proof of possession: refused outright, not with use_dpop_nonce.
    server
        .token_as(
            &client1,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
            ],
            &[],
        )
        .await
        .assert_oauth_error(400, "invalid_request", "DPoP proof is required");

    // ---- client 2 ----
    let key2 = ClientKey::es256();
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(&client2, SCOPE, &challenge);
    let state = suite_state_128();
    set_param(&mut params, "state", Some(&state));
    let request_uri = server.push(&client2, &params).await;
    let done = server
        .login_and_approve(&Browser::new(), &client2.client_id, &request_uri)
        .await;
    let code =
        done.assert_authorization_code(REDIRECT_URI_WITH_QUERY, Some(&state), &server.issuer);
    let tokens2 = server.redeem_code(&client2, &code, &verifier, &key2).await;
    assert_eq!(tokens2.status.as_u16(), 200, "{}", tokens2.text);
    let refresh2 = tokens2.body["refresh_token"].as_str().unwrap().to_owned();
    assert_credential(&refresh2);
    server.clock.advance(1);
    let refreshed2 = server
        .refresh(&client2, &refresh2, &ClientKey::es256(), &[])
        .await;
    assert_eq!(refreshed2.status.as_u16(), 200, "{}", refreshed2.text);

    // Client 1's DPoP key with client 2's access token.
    let info = server
        .userinfo(tokens2.body["access_token"].as_str().unwrap(), &key1)
        .await;
    assert_eq!(info.status.as_u16(), 401, "{}", info.text);
    // Client 1 with client 2's refresh token.
    server
        .refresh(&client1, &refresh2, &key1, &[])
        .await
        .assert_oauth_error(400, "invalid_grant", "another client");
    // ...which does not harm client 2's refresh token.
    let still = server.refresh(&client2, &refresh2, &key2, &[]).await;
    assert_eq!(still.status.as_u16(), 200, "{}", still.text);
}

/// A refresh may narrow the scope, never widen it; without `openid` there is no ID token.
#[tokio::test]
async fn refresh_token_scope_can_narrow_but_not_widen() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let key = ClientKey::es256();
    let tokens = server
        .full_flow(&Browser::new(), &client, SCOPE, &key)
        .await;
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    let narrowed = server
        .refresh(&client, refresh, &key, &[("scope", "accounts")])
        .await;
    assert_eq!(narrowed.status.as_u16(), 200, "{}", narrowed.text);
    assert_eq!(narrowed.body["scope"], "accounts");
    assert!(narrowed.body.get("id_token").is_none());
    server
        .refresh(
            &client,
            refresh,
            &key,
            &[("scope", "openid accounts payments")],
        )
        .await
        .assert_oauth_error(400, "invalid_scope", "payments");
    // The narrowing did not shrink the grant itself.
    let full = server.refresh(&client, refresh, &key, &[]).await;
    assert_eq!(full.status.as_u16(), 200, "{}", full.text);
    assert_eq!(full.body["scope"], "openid accounts");
}

/// Unknown, garbage and missing refresh tokens.
#[tokio::test]
async fn refresh_token_garbage_is_invalid_grant() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let key = ClientKey::es256();
    for garbage in ["unknown".to_owned(), "r".repeat(20_000), "%zz".to_owned()] {
        server
            .refresh(&client, &garbage, &key, &[])
            .await
            .assert_oauth_error(400, "invalid_grant", "invalid");
    }
    let proof = server.token_proof(&key);
    server
        .token_as(&client, &[("grant_type", "refresh_token")], &[&proof])
        .await
        .assert_oauth_error(400, "invalid_request", "refresh_token is required");
}

/// A client registered without the refresh_token grant gets no refresh token and cannot refresh.
#[tokio::test]
async fn client_without_refresh_grant_gets_no_refresh_token() {
    let server = spawn().await;
    server.create_user().await;
    let client = server
        .fapi_client(json!({"grant_types": ["authorization_code"]}))
        .await;
    let key = ClientKey::es256();
    let tokens = server
        .full_flow(&Browser::new(), &client, SCOPE, &key)
        .await;
    assert!(
        tokens.body.get("refresh_token").is_none(),
        "{}",
        tokens.text
    );
    server
        .refresh(&client, "anything", &key, &[])
        .await
        .assert_oauth_error(400, "unauthorized_client", "refresh_token");
}

/// Tokens die with their user: after an administrator deletes the user, neither an outstanding
/// code nor a refresh token yields new tokens.
#[tokio::test]
async fn deleted_user_gets_no_more_tokens() {
    let server = spawn().await;
    let user_id = server.create_user().await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = server.fapi_client(json!({})).await;
    let key = ClientKey::es256();
    let tokens = server
        .full_flow(&Browser::new(), &client, SCOPE, &key)
        .await;
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    let (code, verifier) = server.obtain_code(&Browser::new(), &client, SCOPE).await;
    let deleted = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{ORG}/users/{user_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(deleted.status.as_u16(), 204, "{}", deleted.text);
    // Deletion revokes the user's grants at once: the access token is refused before anything
    // else happens.
    let info = server
        .userinfo(tokens.body["access_token"].as_str().unwrap(), &key)
        .await;
    assert_eq!(info.status.as_u16(), 401, "{}", info.text);
    assert!(info.text.contains("revoked"), "{}", info.text);
    server
        .refresh(&client, refresh, &key, &[])
        .await
        .assert_oauth_error(400, "invalid_grant", "");
    server
        .redeem_code(&client, &code, &verifier, &key)
        .await
        .assert_oauth_error(400, "invalid_grant", "");
}

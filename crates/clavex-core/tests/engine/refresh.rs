//! The `refresh_token` grant (RFC 6749 §6, RFC 9449 §5) as the engine implements it today: the
//! refresh token is not rotated (it stays usable and no new one is issued), it is bound to its
//! client and not to a DPoP key (each new access token is bound to the key that proves possession
//! now), the scope may narrow but never widen, and it lives as long as its grant
//! (`GRANT_LIFETIME_SECS`).

use clavex_core::admin::{AdminActor, AdminRequest, UpdateClient};
use clavex_core::ids::ClientId;
use clavex_core::policy::lifetimes::GRANT_LIFETIME_SECS;
use serde_json::json;

use crate::support::*;

/// A harness, a client, its DPoP key, and the refresh token of a completed authorization.
async fn setup() -> (Harness, TestClient, ClientKey, String) {
    let h = Harness::new().await;
    let client = h.client(json!({})).await;
    let dpop = ClientKey::es256();
    let refresh_token = h
        .tokens(&client, &dpop)
        .await
        .refresh_token
        .expect("refresh token");
    (h, client, dpop, refresh_token)
}

#[tokio::test]
async fn refresh_token_is_not_rotated() {
    let (h, client, dpop, refresh_token) = setup().await;
    for _ in 0..2 {
        let form = h.refresh_form(&client, &refresh_token);
        let tokens = h
            .token(&form, &[&h.token_proof(&dpop)])
            .await
            .expect("refresh");
        assert_eq!(tokens.token_type, "DPoP");
        assert_eq!(tokens.scope.as_deref(), Some("openid accounts"));
        // No rotation: no new refresh token, and the old one keeps working.
        assert!(tokens.refresh_token.is_none());
        assert!(tokens.id_token.is_some(), "openid is still granted");
    }
}

#[tokio::test]
async fn new_access_token_is_bound_to_the_key_of_the_proof() {
    let (h, client, _, refresh_token) = setup().await;
    // The refresh token is bound to the client, not to the first key: another key refreshes, and
    // the new access token is bound to it.
    let other = ClientKey::new(clavex_jose::Algorithm::EdDsa);
    let form = h.refresh_form(&client, &refresh_token);
    let tokens = h
        .token(&form, &[&h.token_proof(&other)])
        .await
        .expect("refresh with another key");
    assert_eq!(
        jwt_claims(&tokens.access_token)["cnf"]["jkt"],
        json!(other.thumbprint())
    );
    // Possession must still be proven.
    let form = h.refresh_form(&client, &refresh_token);
    assert_refused(
        h.token(&form, &[]).await,
        "invalid_request",
        "a DPoP proof is required",
    );
    let form = h.refresh_form(&client, &refresh_token);
    let wrong_htu = other.dpop_proof("POST", PAR_ENDPOINT, h.now());
    assert_refused(
        h.token(&form, &[&wrong_htu]).await,
        "invalid_dpop_proof",
        "DPoP proof htu must be",
    );
}

#[tokio::test]
async fn refresh_token_is_bound_to_its_client() {
    let (h, client, dpop, refresh_token) = setup().await;
    let other = h.client(json!({})).await;
    let form = h.refresh_form(&other, &refresh_token);
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_grant",
        "the refresh token was issued to another client",
    );
    let form = h.refresh_form(&client, &refresh_token);
    h.token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("its own client");
}

#[tokio::test]
async fn scope_may_narrow_but_not_widen() {
    let (h, client, dpop, refresh_token) = setup().await;
    let form = h
        .refresh_form(&client, &refresh_token)
        .set("scope", "accounts");
    let narrowed = h
        .token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("narrowed");
    assert_eq!(narrowed.scope.as_deref(), Some("accounts"));
    assert!(narrowed.id_token.is_none(), "openid was left out");
    assert_eq!(
        jwt_claims(&narrowed.access_token)["scope"],
        json!("accounts")
    );
    for wider in ["openid accounts payments", "payments", "offline_access"] {
        let form = h.refresh_form(&client, &refresh_token).set("scope", wider);
        assert_refused(
            h.token(&form, &[&h.token_proof(&dpop)]).await,
            "invalid_scope",
            "was not granted",
        );
    }
    // Narrowing once does not shrink the grant: the whole scope is still there.
    let form = h.refresh_form(&client, &refresh_token);
    let whole = h
        .token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("whole grant");
    assert_eq!(whole.scope.as_deref(), Some("openid accounts"));
}

#[tokio::test]
async fn refresh_token_expires_with_its_grant() {
    let (h, client, dpop, refresh_token) = setup().await;
    h.clock.advance(GRANT_LIFETIME_SECS - 1);
    let form = h.refresh_form(&client, &refresh_token);
    h.token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("a second before the end");
    h.clock.advance(1);
    let form = h.refresh_form(&client, &refresh_token);
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_grant",
        "the refresh token is invalid or has expired",
    );
}

#[tokio::test]
async fn unknown_or_missing_refresh_token() {
    let (h, client, dpop, _) = setup().await;
    let form = h.refresh_form(&client, &clavex_jose::random_token(32));
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_grant",
        "the refresh token is invalid or has expired",
    );
    let form = h.refresh_form(&client, "x").without("refresh_token");
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_request",
        "refresh_token is required",
    );
}

#[tokio::test]
async fn refresh_token_dies_with_its_user() {
    let (h, client, dpop, refresh_token) = setup().await;
    h.engine
        .delete_user(&h.org, &h.user_id, &AdminActor::Cli, &h.connection)
        .await
        .expect("delete user");
    // Deleting the user revoked the grant and deleted its refresh token.
    let form = h.refresh_form(&client, &refresh_token);
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_grant",
        "the refresh token is invalid or has expired",
    );
}

#[tokio::test]
async fn client_without_the_refresh_grant_cannot_refresh() {
    let (h, client, dpop, refresh_token) = setup().await;
    h.engine
        .update_client(
            &h.org,
            &ClientId::parse(&client.client_id).unwrap(),
            UpdateClient::from_json(&json!({"grant_types": ["authorization_code"]})).unwrap(),
            true,
            &AdminActor::Cli,
            &h.connection,
        )
        .await
        .expect("client update");
    let form = h.refresh_form(&client, &refresh_token);
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "unauthorized_client",
        "not registered for the refresh_token grant",
    );
}

//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10, FAPI 2.0 SP
//! §5.3.2.1): single use (a replay revokes the grant), `CODE_LIFETIME_SECS`, PKCE, the redirect
//! URI, the client, and the DPoP key the code is bound to. Also the grant dispatch.

use clavex_core::policy::lifetimes::CODE_LIFETIME_SECS;
use clavex_core::settings::DEFAULT_ACCESS_TOKEN_LIFETIME;
use serde_json::json;

use crate::support::*;

async fn setup() -> (Harness, TestClient, ClientKey) {
    let harness = Harness::new().await;
    let client = harness.client(json!({})).await;
    (harness, client, ClientKey::es256())
}

#[tokio::test]
async fn code_is_redeemed_for_dpop_bound_tokens() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    let tokens = h.redeem(&client, &authorized, &dpop).await.expect("tokens");
    assert_eq!(tokens.token_type, "DPoP");
    assert_eq!(tokens.scope.as_deref(), Some("openid accounts"));
    assert_eq!(tokens.expires_in, DEFAULT_ACCESS_TOKEN_LIFETIME);
    assert!(tokens.refresh_token.is_some());
    let access = jwt_claims(&tokens.access_token);
    assert_eq!(access["cnf"]["jkt"], json!(dpop.thumbprint()));
    assert_eq!(access["sub"], json!(h.user_id));
    assert_eq!(access["client_id"], json!(client.client_id));
    let id_token = jwt_claims(tokens.id_token.as_deref().expect("an ID token for openid"));
    assert_eq!(id_token["iss"], json!(ISSUER));
    assert_eq!(id_token["aud"], json!(client.client_id));
    assert_eq!(id_token["nonce"], json!("nonce-1"));
}

#[tokio::test]
async fn code_is_single_use_and_a_replay_revokes_the_grant() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    let tokens = h.redeem(&client, &authorized, &dpop).await.expect("first");
    let refresh_token = tokens.refresh_token.clone().expect("refresh token");
    let grant_id = jwt_claims(&tokens.access_token)["grant_id"]
        .as_str()
        .expect("grant_id claim")
        .to_owned();
    let org = h.engine.org(&h.org).await.unwrap();
    let live = h.engine.live_grant(&org, &grant_id).await.unwrap();
    assert!(
        live.is_some(),
        "the grant is live after the first redemption"
    );
    assert_refused(
        h.redeem(&client, &authorized, &dpop).await,
        "invalid_grant",
        "the authorization code has already been used; the tokens issued with it are revoked",
    );
    // The grant is revoked: its access tokens fail every grant-status check, and its refresh
    // token is gone.
    let live = h.engine.live_grant(&org, &grant_id).await.unwrap();
    assert!(live.is_none(), "the replay revoked the grant");
    let form = h.refresh_form(&client, &refresh_token);
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_grant",
        "the refresh token is invalid or has expired",
    );
}

#[tokio::test]
async fn code_expires_after_its_lifetime() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    h.clock.advance(CODE_LIFETIME_SECS);
    assert_refused(
        h.redeem(&client, &authorized, &dpop).await,
        "invalid_grant",
        "the authorization code has expired",
    );
    // The accept path: redeemed a second before its end.
    let authorized = h.authorized(&client, None).await;
    h.clock.advance(CODE_LIFETIME_SECS - 1);
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("code redeemed within its lifetime");
}

#[tokio::test]
async fn pkce_verifier_must_match() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    let (other_verifier, _) = pkce();
    for (verifier, fragment) in [
        (
            Some(other_verifier.as_str()),
            "code_verifier does not match the code_challenge",
        ),
        (Some("too-short"), "code_verifier must be 43-128 characters"),
        (
            Some(&*"a".repeat(129)),
            "code_verifier must be 43-128 characters",
        ),
        (None, "code_verifier is required"),
    ] {
        let form = h.code_form(&client, &authorized).without("code_verifier");
        let form = match verifier {
            Some(v) => form.set("code_verifier", v),
            None => form,
        };
        assert_refused(
            h.token(&form, &[&h.token_proof(&dpop)]).await,
            "invalid_grant",
            fragment,
        );
    }
    // A refused attempt does not burn the code of the legitimate client.
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("the right verifier");
}

#[tokio::test]
async fn redirect_uri_must_be_the_authorized_one() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    for other in [
        REDIRECT_URI_WITH_QUERY,
        "https://tpp.example.com/callback/",
        "https://evil.example/callback",
    ] {
        let form = h.code_form(&client, &authorized).set("redirect_uri", other);
        assert_refused(
            h.token(&form, &[&h.token_proof(&dpop)]).await,
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let form = h.code_form(&client, &authorized).without("redirect_uri");
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_request",
        "redirect_uri is required",
    );
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("the authorized redirect_uri");
}

#[tokio::test]
async fn code_is_bound_to_its_client() {
    let (h, client, dpop) = setup().await;
    let thief = h.client(json!({})).await;
    let authorized = h.authorized(&client, None).await;
    assert_refused(
        h.redeem(&thief, &authorized, &dpop).await,
        "invalid_grant",
        "the authorization code was issued to another client",
    );
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("its own client");
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let (h, client, dpop) = setup().await;
    let authorized = Authorized {
        code: clavex_jose::random_token(32),
        verifier: pkce().0,
    };
    assert_refused(
        h.redeem(&client, &authorized, &dpop).await,
        "invalid_grant",
        "the authorization code is invalid",
    );
    let form = h.code_form(&client, &authorized).without("code");
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_request",
        "code is required",
    );
}

#[tokio::test]
async fn a_dpop_proof_is_required() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, None).await;
    assert_refused(
        h.token(&h.code_form(&client, &authorized), &[]).await,
        "invalid_request",
        "a DPoP proof is required",
    );
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("with a proof");
}

#[tokio::test]
async fn code_is_bound_to_the_dpop_jkt_pushed() {
    let (h, client, dpop) = setup().await;
    let (form, verifier) = h.par_form(&client);
    let request_uri = h
        .push(&form.set("dpop_jkt", &dpop.thumbprint()), &[])
        .await
        .expect("PAR with dpop_jkt")
        .request_uri;
    let authorized = Authorized {
        code: h.code_of(&client, &request_uri).await,
        verifier,
    };
    assert_refused(
        h.redeem(&client, &authorized, &ClientKey::es256()).await,
        "invalid_dpop_proof",
        "the DPoP key is not the one the authorization code is bound to",
    );
    let tokens = h
        .redeem(&client, &authorized, &dpop)
        .await
        .expect("the bound key");
    assert_eq!(
        jwt_claims(&tokens.access_token)["cnf"]["jkt"],
        json!(dpop.thumbprint())
    );
}

#[tokio::test]
async fn code_is_bound_to_the_key_of_the_proof_at_par() {
    let (h, client, dpop) = setup().await;
    let authorized = h.authorized(&client, Some(&dpop)).await;
    assert_refused(
        h.redeem(&client, &authorized, &ClientKey::es256()).await,
        "invalid_dpop_proof",
        "the DPoP key is not the one the authorization code is bound to",
    );
    h.redeem(&client, &authorized, &dpop)
        .await
        .expect("the key of the PAR proof");
}

#[tokio::test]
async fn an_unbound_code_takes_any_key() {
    let (h, client, _) = setup().await;
    let authorized = h.authorized(&client, None).await;
    let key = ClientKey::new(clavex_jose::Algorithm::EdDsa);
    let tokens = h.redeem(&client, &authorized, &key).await.expect("tokens");
    assert_eq!(
        jwt_claims(&tokens.access_token)["cnf"]["jkt"],
        json!(key.thumbprint())
    );
}

#[tokio::test]
async fn grant_type_dispatch() {
    let (h, client, dpop) = setup().await;
    assert_refused(
        h.token(&h.authenticated(&client), &[&h.token_proof(&dpop)])
            .await,
        "invalid_request",
        "grant_type is required",
    );
    for other in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let form = h.authenticated(&client).set("grant_type", other);
        assert_refused(
            h.token(&form, &[&h.token_proof(&dpop)]).await,
            "unsupported_grant_type",
            "is not supported",
        );
    }
    let form = h
        .authenticated(&client)
        .set("grant_type", "client_credentials")
        .set("authorization_details", "[]");
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_authorization_details",
        "accepted only in the pushed authorization request",
    );
    let tokens = h
        .client_credentials(&client, &[&h.token_proof(&dpop)])
        .await
        .expect("client_credentials");
    assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
}

#[tokio::test]
async fn client_must_be_registered_for_the_grant() {
    let h = Harness::new().await;
    let dpop = ClientKey::es256();
    let client = h
        .client(json!({"grant_types": ["authorization_code"]}))
        .await;
    assert_refused(
        h.client_credentials(&client, &[&h.token_proof(&dpop)])
            .await,
        "unauthorized_client",
        "not registered for the client_credentials grant",
    );
    // Without the refresh_token grant, a code gives no refresh token.
    let tokens = h.tokens(&client, &dpop).await;
    assert!(tokens.refresh_token.is_none());
}

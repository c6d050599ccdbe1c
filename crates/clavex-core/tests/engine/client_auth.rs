//! Client authentication (RFC 7523 §3, FAPI 2.0 SP §5.3.2.1): `private_key_jwt` only, the
//! assertion's `aud` (the issuer as one string, or the ID2 audiences under
//! `accept_legacy_assertion_audience`), its times, its single-use `jti`, FAPI algorithms, the
//! client's registered key, `iss` = `sub` = the client. Exercised at the token endpoint
//! (client_credentials) and at PAR.

use clavex_core::Error;
use clavex_core::admin::AdminActor;
use clavex_core::ids::ClientId;
use clavex_core::policy::MAX_ASSERTION_LIFETIME_SECS;
use clavex_jose::Algorithm;
use serde_json::{Value, json};

use crate::support::*;

async fn setup() -> (Harness, TestClient, ClientKey) {
    let harness = Harness::new().await;
    let client = harness.client(json!({})).await;
    (harness, client, ClientKey::es256())
}

/// A client_credentials request of `client` authenticated with `assertion`.
async fn send(
    h: &Harness,
    client: &TestClient,
    dpop: &ClientKey,
    assertion: &str,
) -> Result<clavex_core::flows::token::TokenResponse, Error> {
    let form = h
        .authenticated_with(client, assertion)
        .set("grant_type", "client_credentials");
    h.token(&form, &[&h.token_proof(dpop)]).await
}

/// The claims of a valid assertion of `client`.
fn claims(h: &Harness, client: &TestClient) -> Value {
    client
        .key
        .assertion_claims(&client.client_id, ISSUER, h.now())
}

#[tokio::test]
async fn private_key_jwt_is_accepted_with_every_fapi_algorithm() {
    let h = Harness::new().await;
    let dpop = ClientKey::es256();
    for alg in [Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa] {
        let client = h.client_with_key(ClientKey::new(alg), json!({})).await;
        let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
        send(&h, &client, &dpop, &assertion)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
    }
}

#[tokio::test]
async fn audience_is_the_issuer_as_a_single_string() {
    let (h, client, dpop) = setup().await;
    for aud in [
        json!(TOKEN_ENDPOINT),
        json!(PAR_ENDPOINT),
        json!([ISSUER]),
        json!([ISSUER, TOKEN_ENDPOINT]),
        json!("https://id.example/other"),
        json!("https://id.example/acme/"),
        json!(42),
    ] {
        let assertion = client.key.sign(
            None,
            None,
            &with_claim(claims(&h, &client), "aud", aud.clone()),
        );
        assert_refused(
            send(&h, &client, &dpop, &assertion).await,
            "invalid_client",
            "client_assertion aud must be the issuer identifier \"https://id.example/acme\" as a single string",
        );
    }
    let no_aud = with_claim(claims(&h, &client), "aud", Value::Null);
    assert_refused(
        send(&h, &client, &dpop, &client.key.sign(None, None, &no_aud)).await,
        "invalid_client",
        "client_assertion has no aud claim",
    );
    let assertion = client.key.sign(None, None, &claims(&h, &client));
    send(&h, &client, &dpop, &assertion)
        .await
        .expect("the issuer");
}

#[tokio::test]
async fn legacy_setting_also_accepts_the_id2_audiences() {
    let (h, client, dpop) = setup().await;
    h.patch_settings(json!({"accept_legacy_assertion_audience": true}))
        .await;
    for aud in [
        json!(ISSUER),
        json!(TOKEN_ENDPOINT),
        json!(PAR_ENDPOINT),
        json!([ISSUER]),
        json!(["https://other.example", TOKEN_ENDPOINT]),
    ] {
        let assertion = client.key.sign(
            None,
            None,
            &with_claim(claims(&h, &client), "aud", aud.clone()),
        );
        send(&h, &client, &dpop, &assertion)
            .await
            .unwrap_or_else(|e| panic!("aud {aud}: {e:?}"));
    }
    for aud in [
        json!("https://other.example"),
        json!(["https://other.example"]),
    ] {
        let assertion = client
            .key
            .sign(None, None, &with_claim(claims(&h, &client), "aud", aud));
        assert_refused(
            send(&h, &client, &dpop, &assertion).await,
            "invalid_client",
            "client_assertion aud must be the issuer identifier",
        );
    }
}

#[tokio::test]
async fn time_rules() {
    let (h, client, dpop) = setup().await;
    let now = h.now();
    for (name, value, fragment) in [
        ("exp", json!(now), "client_assertion has expired"),
        ("exp", json!(now - 1), "client_assertion has expired"),
        (
            "exp",
            json!(now + MAX_ASSERTION_LIFETIME_SECS + 1),
            "client_assertion exp is more than 600 seconds in the future",
        ),
        ("exp", Value::Null, "client_assertion has no exp claim"),
        (
            "exp",
            json!("later"),
            "client_assertion claim exp must be a NumericDate",
        ),
        (
            "iat",
            json!(now + 11),
            "client_assertion iat is in the future",
        ),
        (
            "nbf",
            json!(now + 11),
            "client_assertion is not yet valid (nbf)",
        ),
    ] {
        let assertion = client
            .key
            .sign(None, None, &with_claim(claims(&h, &client), name, value));
        assert_refused(
            send(&h, &client, &dpop, &assertion).await,
            "invalid_client",
            fragment,
        );
    }
    // The edges that are accepted.
    for (name, value) in [
        ("exp", json!(now + MAX_ASSERTION_LIFETIME_SECS)),
        ("iat", json!(now + 10)),
        ("nbf", json!(now + 10)),
        ("iat", Value::Null),
    ] {
        let assertion = client
            .key
            .sign(None, None, &with_claim(claims(&h, &client), name, value));
        send(&h, &client, &dpop, &assertion)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    // An assertion made now is expired once its exp has passed.
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    h.clock.advance(60);
    assert_refused(
        send(&h, &client, &dpop, &assertion).await,
        "invalid_client",
        "client_assertion has expired",
    );
}

#[tokio::test]
async fn jti_is_single_use() {
    let (h, client, dpop) = setup().await;
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    send(&h, &client, &dpop, &assertion)
        .await
        .expect("first use");
    assert_refused(
        send(&h, &client, &dpop, &assertion).await,
        "invalid_client",
        "client_assertion jti has already been used",
    );
    // Used at the token endpoint, it is used at PAR too.
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.set("client_assertion", &assertion), &[]).await,
        "invalid_client",
        "client_assertion jti has already been used",
    );
    for (jti, fragment) in [
        (Value::Null, "client_assertion has no jti claim"),
        (json!(""), "client_assertion jti must be 1-256 characters"),
        (
            json!("j".repeat(257)),
            "client_assertion jti must be 1-256 characters",
        ),
    ] {
        let assertion = client
            .key
            .sign(None, None, &with_claim(claims(&h, &client), "jti", jti));
        assert_refused(
            send(&h, &client, &dpop, &assertion).await,
            "invalid_client",
            fragment,
        );
    }
}

#[tokio::test]
async fn a_request_refused_later_does_not_spend_the_assertion() {
    let (h, client, dpop) = setup().await;
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    let form = h
        .authenticated_with(&client, &assertion)
        .set("grant_type", "client_credentials");
    assert_refused(
        h.token(
            &form.clone().set("scope", "savings"),
            &[&h.token_proof(&dpop)],
        )
        .await,
        "invalid_scope",
        "scope savings is not offered",
    );
    h.token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("the same assertion, still unused");
}

#[tokio::test]
async fn only_fapi_algorithms() {
    let h = Harness::new().await;
    let dpop = ClientKey::es256();
    let rsa = h
        .client_with_key(ClientKey::new(Algorithm::Ps256), json!({}))
        .await;
    let claims = claims(&h, &rsa);
    let kid = rsa.key.key.kid();
    for (assertion, alg) in [
        (
            rs256_jwt(&rsa.key, &json!({"alg": "RS256", "kid": kid}), &claims),
            "RS256",
        ),
        (
            hs256_jwt(&json!({"alg": "HS256", "kid": kid}), &claims, b"secret"),
            "HS256",
        ),
        (raw_jwt(&json!({"alg": "none"}), &claims, b"sig"), "none"),
    ] {
        assert_refused(
            send(&h, &rsa, &dpop, &assertion).await,
            "invalid_client",
            &format!("algorithm {alg} is not allowed"),
        );
    }
    // An unsigned JWT (alg none, empty signature) is not even a JWS.
    assert_refused(
        send(
            &h,
            &rsa,
            &dpop,
            &raw_jwt(&json!({"alg": "none"}), &claims, b""),
        )
        .await,
        "invalid_client",
        "client_assertion is not a valid JWS: JWS signature is empty",
    );
    send(&h, &rsa, &dpop, &rsa.key.sign(None, None, &claims))
        .await
        .expect("PS256");
}

#[tokio::test]
async fn registered_signing_alg_is_enforced() {
    let h = Harness::new().await;
    let dpop = ClientKey::es256();
    let client = h
        .client(json!({"token_endpoint_auth_signing_alg": "PS256"}))
        .await;
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    assert_refused(
        send(&h, &client, &dpop, &assertion).await,
        "invalid_client",
        "this client must sign its assertions with PS256",
    );
}

#[tokio::test]
async fn only_the_registered_key_verifies() {
    let (h, client, dpop) = setup().await;
    let claims = claims(&h, &client);
    // Another key under the client's kid.
    let impostor = ClientKey::impostor_of(&client.key);
    assert_refused(
        send(&h, &client, &dpop, &impostor.sign(None, None, &claims)).await,
        "invalid_client",
        "client_assertion signature verification failed",
    );
    // A kid the client never registered.
    let stranger = ClientKey::es256();
    assert_refused(
        send(&h, &client, &dpop, &stranger.sign(None, None, &claims)).await,
        "invalid_client",
        "no registered key of this client matches kid",
    );
    // Another client's key and assertion, claiming to be this client.
    let other = h.client(json!({})).await;
    assert_refused(
        send(&h, &client, &dpop, &other.key.sign(None, None, &claims)).await,
        "invalid_client",
        "no registered key of this client matches kid",
    );
    send(&h, &client, &dpop, &client.key.sign(None, None, &claims))
        .await
        .expect("the registered key");
}

#[tokio::test]
async fn iss_and_sub_must_both_be_the_client() {
    let (h, client, dpop) = setup().await;
    let other = h.client(json!({})).await;
    for (name, value, fragment) in [
        (
            "sub",
            json!(other.client_id),
            "client_assertion iss and sub must both be the client_id",
        ),
        (
            "iss",
            json!(other.client_id),
            "client_assertion iss and sub must both be the client_id",
        ),
        ("sub", Value::Null, "client_assertion has no sub claim"),
        ("iss", Value::Null, "client_assertion has no iss claim"),
        (
            "iss",
            json!(7),
            "client_assertion claim iss must be a string",
        ),
    ] {
        let assertion = client
            .key
            .sign(None, None, &with_claim(claims(&h, &client), name, value));
        assert_refused(
            send(&h, &client, &dpop, &assertion).await,
            "invalid_client",
            fragment,
        );
    }
    // The client_id parameter, when sent, must name the same client.
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    let form = h
        .authenticated_with(&client, &assertion)
        .set("client_id", &other.client_id)
        .set("grant_type", "client_credentials");
    assert_refused(
        h.token(&form, &[&h.token_proof(&dpop)]).await,
        "invalid_client",
        "client_id does not match the client_assertion's iss and sub",
    );
    // And it may be left out.
    let form = h
        .authenticated(&client)
        .without("client_id")
        .set("grant_type", "client_credentials");
    h.token(&form, &[&h.token_proof(&dpop)])
        .await
        .expect("no client_id parameter");
}

#[tokio::test]
async fn unknown_client_is_refused() {
    let (h, client, dpop) = setup().await;
    let ghost = TestClient {
        client_id: "no-such-client".to_owned(),
        key: ClientKey::es256(),
    };
    let assertion = ghost.key.assertion(&ghost.client_id, ISSUER, h.now());
    assert_refused(
        send(&h, &ghost, &dpop, &assertion).await,
        "invalid_client",
        "unknown client",
    );
    // A deleted client is unknown from then on.
    h.engine
        .delete_client(
            &h.org,
            &ClientId::parse(&client.client_id).unwrap(),
            &AdminActor::Cli,
            &h.connection,
        )
        .await
        .expect("delete client");
    let assertion = client.key.assertion(&client.client_id, ISSUER, h.now());
    assert_refused(
        send(&h, &client, &dpop, &assertion).await,
        "invalid_client",
        "unknown client",
    );
}

#[tokio::test]
async fn client_secret_methods_are_refused() {
    let (h, client, dpop) = setup().await;
    let post = Form::new(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client.client_id),
        ("client_secret", "s3cret"),
    ]);
    assert_refused(
        h.token(&post, &[&h.token_proof(&dpop)]).await,
        "invalid_client",
        "client_secret_post is not allowed under FAPI 2.0",
    );
    // client_secret_basic: refused, with a challenge for the scheme the client used.
    let basic = Form::new(&[("grant_type", "client_credentials")]);
    let err = assert_refused(
        h.token_with_header(&basic, &[&h.token_proof(&dpop)], Some("Basic dGVzdDp0ZXN0"))
            .await,
        "invalid_client",
        "client_secret_basic is not allowed under FAPI 2.0",
    );
    match err {
        Error::ClientChallenge { scheme, realm, .. } => {
            assert_eq!(scheme, "Basic");
            assert_eq!(realm, ISSUER);
        }
        other => panic!("expected a client challenge, got {other:?}"),
    }
    // Even next to a valid assertion, a secret is refused.
    let both = h
        .authenticated(&client)
        .set("grant_type", "client_credentials")
        .set("client_secret", "s3cret");
    assert_refused(
        h.token(&both, &[&h.token_proof(&dpop)]).await,
        "invalid_client",
        "client_secret_post is not allowed",
    );
}

#[tokio::test]
async fn assertion_parameters_are_required() {
    let (h, client, dpop) = setup().await;
    let base = h
        .authenticated(&client)
        .set("grant_type", "client_credentials");
    for (form, fragment) in [
        (
            base.clone()
                .without("client_assertion")
                .without("client_assertion_type"),
            "client authentication is required",
        ),
        (
            base.clone().without("client_assertion_type"),
            "client_assertion_type is missing",
        ),
        (
            base.clone().without("client_assertion"),
            "client_assertion is missing",
        ),
        (
            base.clone().set(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        (
            base.clone().set("client_assertion", "not-a-jwt"),
            "client_assertion is not a valid JWS",
        ),
    ] {
        assert_refused(
            h.token(&form, &[&h.token_proof(&dpop)]).await,
            "invalid_client",
            fragment,
        );
    }
    h.token(&base, &[&h.token_proof(&dpop)])
        .await
        .expect("complete");
}

#[tokio::test]
async fn par_authenticates_the_same_way() {
    let (h, client, _) = setup().await;
    let (form, _) = h.par_form(&client);
    let to_token_endpoint = client.key.sign(
        None,
        None,
        &with_claim(claims(&h, &client), "aud", json!(TOKEN_ENDPOINT)),
    );
    assert_refused(
        h.push(
            &form.clone().set("client_assertion", &to_token_endpoint),
            &[],
        )
        .await,
        "invalid_client",
        "client_assertion aud must be the issuer identifier",
    );
    let impostor = ClientKey::impostor_of(&client.key);
    let forged = impostor.sign(None, None, &claims(&h, &client));
    assert_refused(
        h.push(&form.clone().set("client_assertion", &forged), &[])
            .await,
        "invalid_client",
        "client_assertion signature verification failed",
    );
    h.push(&form, &[]).await.expect("a valid assertion");
}

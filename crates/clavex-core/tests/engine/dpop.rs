//! DPoP proofs at the token and PAR endpoints (RFC 9449 §4.3, §8, §11.1; FAPI 2.0 SP §5.3.2.1):
//! the `iat` window, single use of `jti`, `htm`/`htu`, FAPI algorithms only, the signature by the
//! proof's own `jwk`, and server nonces when the organization demands them.

use clavex_core::Error;
use clavex_core::policy::{DPOP_MAX_AGE_SECS, MAX_FUTURE_SKEW_SECS};
use clavex_jose::Algorithm;
use serde_json::{Value, json};

use crate::support::*;

async fn setup() -> (Harness, TestClient, ClientKey) {
    let harness = Harness::new().await;
    let client = harness.client(json!({})).await;
    (harness, client, ClientKey::es256())
}

/// The nonce a `use_dpop_nonce` error carries.
#[track_caller]
fn issued_nonce(err: &Error) -> String {
    match err {
        Error::UseDpopNonce { nonce, .. } => nonce.clone(),
        other => panic!("expected use_dpop_nonce, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_proof_gives_a_bound_token() {
    let (h, client, _) = setup().await;
    for alg in [Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa] {
        let key = ClientKey::new(alg);
        let tokens = h
            .client_credentials(&client, &[&h.token_proof(&key)])
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(tokens.token_type, "DPoP");
        assert_eq!(
            jwt_claims(&tokens.access_token)["cnf"]["jkt"],
            json!(key.thumbprint())
        );
    }
}

#[tokio::test]
async fn iat_must_lie_in_the_window() {
    let (h, client, key) = setup().await;
    let now = h.now();
    for (iat, fragment) in [
        (now - DPOP_MAX_AGE_SECS - 1, "DPoP proof is too old (iat)"),
        (
            now + MAX_FUTURE_SKEW_SECS + 1,
            "DPoP proof iat is too far in the future",
        ),
    ] {
        let proof = key.dpop_with(&key.dpop_claims("POST", TOKEN_ENDPOINT, iat));
        assert_refused(
            h.client_credentials(&client, &[&proof]).await,
            "invalid_dpop_proof",
            fragment,
        );
    }
    for iat in [now - DPOP_MAX_AGE_SECS, now + MAX_FUTURE_SKEW_SECS] {
        let proof = key.dpop_with(&key.dpop_claims("POST", TOKEN_ENDPOINT, iat));
        h.client_credentials(&client, &[&proof])
            .await
            .unwrap_or_else(|e| panic!("iat {}: {e:?}", iat - now));
    }
    // A proof made now is too old once the clock has moved on.
    let proof = h.token_proof(&key);
    h.clock.advance(DPOP_MAX_AGE_SECS + 1);
    assert_refused(
        h.client_credentials(&client, &[&proof]).await,
        "invalid_dpop_proof",
        "too old",
    );
    let missing = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, 0),
        "iat",
        Value::Null,
    );
    assert_refused(
        h.client_credentials(&client, &[&key.dpop_with(&missing)])
            .await,
        "invalid_dpop_proof",
        "DPoP proof has no numeric iat claim",
    );
}

#[tokio::test]
async fn jti_is_single_use() {
    let (h, client, key) = setup().await;
    let proof = h.token_proof(&key);
    h.client_credentials(&client, &[&proof])
        .await
        .expect("first use");
    assert_refused(
        h.client_credentials(&client, &[&proof]).await,
        "invalid_dpop_proof",
        "DPoP proof jti has already been used",
    );
    // A new proof of the same key reusing the jti is a replay too.
    let claims = jwt_claims(&proof);
    h.clock.advance(1);
    let again = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "jti",
        claims["jti"].clone(),
    );
    assert_refused(
        h.client_credentials(&client, &[&key.dpop_with(&again)])
            .await,
        "invalid_dpop_proof",
        "DPoP proof jti has already been used",
    );
    // The same jti under another key is another proof.
    let other = ClientKey::es256();
    let theirs = with_claim(
        other.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "jti",
        claims["jti"].clone(),
    );
    h.client_credentials(&client, &[&other.dpop_with(&theirs)])
        .await
        .expect("same jti, another key");
    // The same replay at PAR, which records the proof's jti too.
    let (form, _) = h.par_form(&client);
    let par_proof = h.par_proof(&key);
    h.push(&form, &[&par_proof]).await.expect("PAR proof");
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form, &[&par_proof]).await,
        "invalid_dpop_proof",
        "DPoP proof jti has already been used",
    );
}

#[tokio::test]
async fn htm_and_htu_must_name_this_request() {
    let (h, client, key) = setup().await;
    let now = h.now();
    for (htm, htu, fragment) in [
        ("GET", TOKEN_ENDPOINT, "DPoP proof htm must be POST"),
        ("post", TOKEN_ENDPOINT, "DPoP proof htm must be POST"),
        ("POST", PAR_ENDPOINT, "DPoP proof htu must be"),
        (
            "POST",
            "https://id.example/other/token",
            "DPoP proof htu must be",
        ),
        (
            "POST",
            "https://id.example/ACME/token",
            "DPoP proof htu must be",
        ),
        (
            "POST",
            "https://evil.example/acme/token",
            "DPoP proof htu must be",
        ),
        (
            "POST",
            "http://id.example/acme/token",
            "DPoP proof htu must be",
        ),
        ("POST", "not a url", "DPoP proof htu must be"),
    ] {
        let proof = key.dpop_proof(htm, htu, now);
        assert_refused(
            h.client_credentials(&client, &[&proof]).await,
            "invalid_dpop_proof",
            fragment,
        );
    }
    for (name, fragment) in [("htm", "has no htm claim"), ("htu", "has no htu claim")] {
        let claims = with_claim(
            key.dpop_claims("POST", TOKEN_ENDPOINT, now),
            name,
            Value::Null,
        );
        assert_refused(
            h.client_credentials(&client, &[&key.dpop_with(&claims)])
                .await,
            "invalid_dpop_proof",
            fragment,
        );
    }
    // Query and fragment are ignored; scheme and host case and the default port are normalised.
    for htu in [
        "https://id.example/acme/token?x=1#f",
        "HTTPS://ID.EXAMPLE:443/acme/token",
    ] {
        h.client_credentials(&client, &[&key.dpop_proof("POST", htu, now)])
            .await
            .unwrap_or_else(|e| panic!("{htu}: {e:?}"));
    }
    // At PAR, the proof names the PAR endpoint.
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form, &[&h.token_proof(&key)]).await,
        "invalid_dpop_proof",
        "DPoP proof htu must be https://id.example/acme/par",
    );
    let (form, _) = h.par_form(&client);
    h.push(&form, &[&h.par_proof(&key)])
        .await
        .expect("PAR proof");
}

#[tokio::test]
async fn only_fapi_algorithms() {
    let (h, client, key) = setup().await;
    let claims = key.dpop_claims("POST", TOKEN_ENDPOINT, h.now());
    let none_header = json!({"alg": "none", "typ": "dpop+jwt", "jwk": key.proof_jwk()});
    // Unsigned (empty signature), it is not even a JWS.
    assert_refused(
        h.client_credentials(&client, &[&raw_jwt(&none_header, &claims, b"")])
            .await,
        "invalid_dpop_proof",
        "DPoP proof is not a valid JWS: JWS signature is empty",
    );
    let none = raw_jwt(&none_header, &claims, b"sig");
    let hs256 = hs256_jwt(
        &json!({"alg": "HS256", "typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        &claims,
        b"secret",
    );
    let rsa = ClientKey::new(Algorithm::Ps256);
    let rs256 = rs256_jwt(
        &rsa,
        &json!({"alg": "RS256", "typ": "dpop+jwt", "jwk": rsa.proof_jwk()}),
        &claims,
    );
    for (proof, alg) in [(none, "none"), (hs256, "HS256"), (rs256, "RS256")] {
        assert_refused(
            h.client_credentials(&client, &[&proof]).await,
            "invalid_dpop_proof",
            &format!("algorithm {alg} is not allowed"),
        );
    }
    // A FAPI algorithm that is not the one of the proof's key.
    let ed = ClientKey::new(Algorithm::EdDsa);
    let mismatched = raw_jwt(
        &json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": ed.proof_jwk()}),
        &claims,
        &[0u8; 64],
    );
    assert_refused(
        h.client_credentials(&client, &[&mismatched]).await,
        "invalid_dpop_proof",
        "DPoP proof alg does not match its jwk",
    );
}

#[tokio::test]
async fn proof_must_be_signed_by_its_own_jwk() {
    let (h, client, key) = setup().await;
    let other = ClientKey::es256();
    let claims = key.dpop_claims("POST", TOKEN_ENDPOINT, h.now());
    let header: serde_json::Map<String, Value> = [("jwk".to_owned(), other.proof_jwk())]
        .into_iter()
        .collect();
    let forged = key
        .key
        .sign_jwt(Some("dpop+jwt"), Some(&header), false, &claims)
        .unwrap();
    assert_refused(
        h.client_credentials(&client, &[&forged]).await,
        "invalid_dpop_proof",
        "DPoP proof signature verification failed",
    );
    // Without a jwk there is nothing to verify with.
    let bare = key
        .key
        .sign_jwt(Some("dpop+jwt"), None, false, &claims)
        .unwrap();
    assert_refused(
        h.client_credentials(&client, &[&bare]).await,
        "invalid_dpop_proof",
        "DPoP proof header has no jwk",
    );
}

#[tokio::test]
async fn proof_shape_rules() {
    let (h, client, key) = setup().await;
    let claims = key.dpop_claims("POST", TOKEN_ENDPOINT, h.now());
    let header: serde_json::Map<String, Value> =
        [("jwk".to_owned(), key.proof_jwk())].into_iter().collect();
    for typ in [None, Some("JWT"), Some("at+jwt")] {
        let proof = key
            .key
            .sign_jwt(typ, Some(&header), false, &claims)
            .unwrap();
        assert_refused(
            h.client_credentials(&client, &[&proof]).await,
            "invalid_dpop_proof",
            "DPoP proof typ must be dpop+jwt",
        );
    }
    let no_jti = with_claim(claims.clone(), "jti", Value::Null);
    assert_refused(
        h.client_credentials(&client, &[&key.dpop_with(&no_jti)])
            .await,
        "invalid_dpop_proof",
        "DPoP proof has no jti claim",
    );
    let (one, two) = (h.token_proof(&key), h.token_proof(&key));
    assert_refused(
        h.client_credentials(&client, &[&one, &two]).await,
        "invalid_dpop_proof",
        "exactly one DPoP header is allowed",
    );
    assert_refused(
        h.client_credentials(&client, &["not.a.jws"]).await,
        "invalid_dpop_proof",
        "DPoP proof is not a valid JWS",
    );
    assert_refused(
        h.client_credentials(&client, &[]).await,
        "invalid_request",
        "a DPoP proof is required",
    );
}

#[tokio::test]
async fn nonce_required_by_the_organization_at_the_token_endpoint() {
    let h = Harness::with_settings(Some(json!({"dpop_nonce_required": true}))).await;
    let client = h.client(json!({})).await;
    let key = ClientKey::es256();
    let form = h
        .authenticated(&client)
        .set("grant_type", "client_credentials");
    let err = assert_refused(
        h.token(&form, &[&h.token_proof(&key)]).await,
        "use_dpop_nonce",
        "this server requires a DPoP nonce",
    );
    let nonce = issued_nonce(&err);
    // A request without any proof is malformed, not a nonce challenge.
    assert_refused(
        h.token(&form, &[]).await,
        "invalid_request",
        "a DPoP proof is required",
    );
    // An unknown nonce is challenged again.
    let bad = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "nonce",
        json!("made-up-nonce"),
    );
    assert_refused(
        h.token(&form, &[&key.dpop_with(&bad)]).await,
        "use_dpop_nonce",
        "the DPoP nonce is stale or unknown",
    );
    // The retry with the issued nonce succeeds, with the same assertion: the challenge spent
    // nothing.
    let good = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "nonce",
        json!(nonce),
    );
    let tokens = h
        .token(&form, &[&key.dpop_with(&good)])
        .await
        .expect("proof with the issued nonce");
    assert_eq!(tokens.token_type, "DPoP");
    // The nonce goes stale after two windows.
    h.clock.advance(2 * 60);
    let stale = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "nonce",
        json!(nonce),
    );
    let form = h.reauthenticated(&client, form);
    let err = assert_refused(
        h.token(&form, &[&key.dpop_with(&stale)]).await,
        "use_dpop_nonce",
        "the DPoP nonce is stale or unknown",
    );
    assert_ne!(issued_nonce(&err), nonce);
}

#[tokio::test]
async fn nonce_required_by_the_organization_at_par() {
    let h = Harness::with_settings(Some(json!({"dpop_nonce_required": true}))).await;
    let client = h.client(json!({})).await;
    let key = ClientKey::es256();
    let (form, _) = h.par_form(&client);
    let err = assert_refused(
        h.push(&form, &[&h.par_proof(&key)]).await,
        "use_dpop_nonce",
        "this server requires a DPoP nonce",
    );
    let proof = with_claim(
        key.dpop_claims("POST", PAR_ENDPOINT, h.now()),
        "nonce",
        json!(issued_nonce(&err)),
    );
    h.push(&form, &[&key.dpop_with(&proof)])
        .await
        .expect("PAR with the issued nonce");
    // PAR without a proof needs no nonce: the proof is optional there.
    let (form, _) = h.par_form(&client);
    h.push(&form, &[]).await.expect("PAR without a proof");
}

#[tokio::test]
async fn nonce_not_demanded_by_default() {
    let (h, client, key) = setup().await;
    let with_any_nonce = with_claim(
        key.dpop_claims("POST", TOKEN_ENDPOINT, h.now()),
        "nonce",
        json!("anything"),
    );
    h.client_credentials(&client, &[&key.dpop_with(&with_any_nonce)])
        .await
        .expect("a nonce nobody asked for is ignored");
}

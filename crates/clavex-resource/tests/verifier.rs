//! Every rule of `ResourceVerifier::verify`, one refusal at a time, against a valid baseline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use clavex_jose::Algorithm;
use clavex_resource::ResourceErrorCode::{
    InsufficientScope, InvalidDpopProof, InvalidRequest, InvalidToken, ServerError,
};
use clavex_resource::{MemoryReplayCache, ReplayCache, ResourceRequest, ResourceVerifier};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn valid_request_is_accepted() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let token = issuer.token(&issuer.claims(&holder.jkt()));
    let ok = call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap();
    assert_eq!(ok.subject(), Some("alice"));
    assert_eq!(ok.client_id(), Some("tpp"));
    assert_eq!(ok.jkt, holder.jkt());
    assert_eq!(ok.scopes(), vec!["accounts", "openid"]);
    assert!(ok.require_scope("accounts").is_ok());
    let err = ok.require_scope("payments").unwrap_err();
    assert_eq!(err.code, InsufficientScope);
    assert_eq!(err.status(), 403);
    assert!(
        v.challenge(&err)
            .unwrap()
            .starts_with("DPoP error=\"insufficient_scope\"")
    );
}

#[tokio::test]
async fn token_placement_and_headers() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let token = issuer.token(&issuer.claims(&holder.jkt()));
    let proof = || holder.proof("GET", URL, &token);
    let dpop = format!("DPoP {token}");

    // In the query (RFC 6750 §2.3) or the body: refused whatever else is there.
    let r = call_with(&v, &[], &[&proof()], true).await;
    assert_refused(&r, InvalidRequest, "only in the Authorization header");
    assert_eq!(r.unwrap_err().status(), 400);
    let r = call_with(&v, &[&dpop], &[&proof()], true).await;
    assert_refused(&r, InvalidRequest, "only in the Authorization header");
    let r = v
        .verify(
            &ResourceRequest {
                method: "GET",
                url: URL,
                authorization: &[&dpop],
                dpop: &[&proof()],
                token_in_query: false,
                token_in_body: true,
            },
            NOW,
        )
        .await;
    assert_refused(&r, InvalidRequest, "only in the Authorization header");

    let r = call_with(&v, &[], &[&proof()], false).await;
    assert_refused(&r, InvalidToken, "an access token is required");
    assert_eq!(r.unwrap_err().status(), 401);
    let r = call_with(&v, &[&dpop, &dpop], &[&proof()], false).await;
    assert_refused(&r, InvalidRequest, "exactly one Authorization header");

    // A DPoP-bound token presented as Bearer (RFC 9449 §7.2), in any case.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {token}");
        let r = call_with(&v, &[&auth], &[&proof()], false).await;
        assert_refused(&r, InvalidToken, "DPoP-bound");
    }
    let auth = format!("Basic {token}");
    let r = call_with(&v, &[&auth], &[&proof()], false).await;
    assert_refused(&r, InvalidToken, "unsupported authorization scheme");
    let r = call_with(&v, &[&token], &[&proof()], false).await;
    assert_refused(&r, InvalidToken, "must be DPoP <token>");

    // The scheme is case-insensitive (conformance: access-token-type-header-case-sensitivity).
    for scheme in ["dPoP", "DPOP", "dpop"] {
        let auth = format!("{scheme} {token}");
        call_with(&v, &[&auth], &[&proof()], false).await.unwrap();
    }

    // Exactly one DPoP header.
    let r = call_with(&v, &[&dpop], &[], false).await;
    assert_refused(&r, InvalidDpopProof, "a DPoP proof is required");
    let r = call_with(&v, &[&dpop], &[&proof(), &proof()], false).await;
    assert_refused(&r, InvalidDpopProof, "exactly one DPoP header");
}

#[tokio::test]
async fn access_token_rules() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let base = issuer.claims(&holder.jkt());
    let check = async |token: String| {
        let proof = holder.proof("GET", URL, &token);
        call(&v, &token, &proof).await
    };

    assert_refused(&check("not.a.jwt".into()).await, InvalidToken, "malformed");
    // typ: at+jwt, case-insensitive, optional application/ prefix.
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let t = issuer.key.sign_jwt(Some(typ), None, true, &base).unwrap();
        check(t).await.unwrap();
    }
    for typ in [Some("JWT"), Some("at+jwt+x"), Some("text/at+jwt"), None] {
        let t = issuer.key.sign_jwt(typ, None, true, &base).unwrap();
        assert_refused(
            &check(t).await,
            InvalidToken,
            "not an RFC 9068 access token",
        );
    }
    // alg outside the configured list; alg none.
    let ps = key(Algorithm::Ps256);
    let only_es = ResourceVerifier::with_keys(
        {
            let mut c = config();
            c.allowed_algs = vec![Algorithm::Es256];
            c
        },
        vec![issuer.key.public_key(), ps.public_key()],
    );
    let t = ps.sign_jwt(Some("at+jwt"), None, true, &base).unwrap();
    let proof = holder.proof("GET", URL, &t);
    assert_refused(
        &call(&only_es, &t, &proof).await,
        InvalidToken,
        "algorithm is not allowed",
    );
    let none = format!(
        "{}.{}.",
        clavex_jose::b64url_encode(br#"{"alg":"none","typ":"at+jwt"}"#),
        clavex_jose::b64url_encode(base.to_string().as_bytes())
    );
    assert_refused(&check(none).await, InvalidToken, "malformed");
    // Key: unknown kid, and a key with the issuer's kid but other material.
    let stranger = key(Algorithm::Es256);
    let t = stranger
        .sign_jwt(Some("at+jwt"), None, true, &base)
        .unwrap();
    assert_refused(&check(t).await, InvalidToken, "not signed by this issuer");
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": issuer.key.kid()});
    let t = sign_raw(&stranger, &header, &base);
    assert_refused(&check(t).await, InvalidToken, "signature is invalid");
    // iss, exp, nbf, aud, cnf.
    let t = issuer.token(&with(base.clone(), "iss", json!("https://evil.example")));
    assert_refused(&check(t).await, InvalidToken, "another issuer");
    for exp in [json!(NOW), json!(NOW - 1), json!("soon")] {
        let t = issuer.token(&with(base.clone(), "exp", exp));
        assert_refused(&check(t).await, InvalidToken, "expired");
    }
    let t = issuer.token(&without(base.clone(), "exp"));
    assert_refused(&check(t).await, InvalidToken, "expired");
    let t = issuer.token(&with(base.clone(), "nbf", json!(NOW + 10)));
    check(t).await.unwrap();
    let t = issuer.token(&with(base.clone(), "nbf", json!(NOW + 11)));
    assert_refused(&check(t).await, InvalidToken, "not valid yet");
    let t = issuer.token(&with(
        base.clone(),
        "aud",
        json!("https://other.example/api"),
    ));
    assert_refused(&check(t).await, InvalidToken, "not meant for this resource");
    let t = issuer.token(&without(base.clone(), "aud"));
    assert_refused(&check(t).await, InvalidToken, "not meant for this resource");
    let t = issuer.token(&with(
        base.clone(),
        "aud",
        json!(["https://other.example", API]),
    ));
    check(t).await.unwrap();
    let t = issuer.token(&without(base.clone(), "cnf"));
    assert_refused(&check(t).await, InvalidToken, "not DPoP-bound");
    let t = issuer.token(&with(base.clone(), "cnf", json!({"x5t#S256": "abc"})));
    assert_refused(&check(t).await, InvalidToken, "not DPoP-bound");

    // Without configured audiences any aud is accepted.
    let any_aud = ResourceVerifier::with_keys(
        {
            let mut c = config();
            c.audiences.clear();
            c
        },
        vec![issuer.key.public_key()],
    );
    let t = issuer.token(&with(
        base.clone(),
        "aud",
        json!("https://other.example/api"),
    ));
    let proof = holder.proof("GET", URL, &t);
    call(&any_aud, &t, &proof).await.unwrap();
}

#[tokio::test]
async fn proof_binding_ath_and_replay() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let token = issuer.token(&issuer.claims(&holder.jkt()));

    // ath: wrong, missing.
    let claims = with(
        holder.claims("GET", URL, &token, NOW),
        "ath",
        json!(ath("other")),
    );
    let r = call(&v, &token, &holder.sign(&holder.header(), &claims)).await;
    assert_refused(&r, InvalidDpopProof, "ath does not match");
    let claims = without(holder.claims("GET", URL, &token, NOW), "ath");
    let r = call(&v, &token, &holder.sign(&holder.header(), &claims)).await;
    assert_refused(&r, InvalidDpopProof, "no ath claim");

    // A proof from another key than cnf.jkt.
    let other = Holder::new();
    let r = call(&v, &token, &other.proof("GET", URL, &token)).await;
    assert_refused(
        &r,
        InvalidDpopProof,
        "another key than the token is bound to",
    );
    assert_eq!(r.unwrap_err().status(), 401);

    // Single use: the same proof twice.
    let proof = holder.proof("GET", URL, &token);
    call(&v, &token, &proof).await.unwrap();
    let r = call(&v, &token, &proof).await;
    assert_refused(&r, InvalidDpopProof, "already been used");
    // A refused request does not burn its proof's jti (the replay record comes last).
    let fresh = holder.proof("GET", URL, &token);
    let r = call_with(&v, &[&format!("Bearer {token}")], &[&fresh], false).await;
    assert_refused(&r, InvalidToken, "DPoP-bound");
    call(&v, &token, &fresh).await.unwrap();
}

/// The resource-server mutations of the conformance suite's `dpop-negative-tests` (§2.3).
#[tokio::test]
async fn conformance_dpop_mutations() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let token = issuer.token(&issuer.claims(&holder.jkt()));
    let claims = || holder.claims("GET", URL, &token, NOW);
    let header = holder.header();
    let signed = |h: &Value, c: &Value| holder.sign(h, c);

    let refused: Vec<(&str, String)> = vec![
        ("truncated", {
            let p = signed(&header, &claims());
            p[..p.rfind('.').unwrap()].to_owned()
        }),
        ("no typ", signed(&header_without(&header, "typ"), &claims())),
        ("alg renamed", {
            let mut h = header_without(&header, "alg");
            h["Alg"] = json!("ES256");
            signed(&h, &claims())
        }),
        ("no jwk", signed(&header_without(&header, "jwk"), &claims())),
        ("no jti", signed(&header, &without(claims(), "jti"))),
        ("no htm", signed(&header, &without(claims(), "htm"))),
        ("no htu", signed(&header, &without(claims(), "htu"))),
        ("no iat", signed(&header, &without(claims(), "iat"))),
        ("no ath", signed(&header, &without(claims(), "ath"))),
        ("typ wrong", {
            let mut h = header.clone();
            h["typ"] = json!("dpop+jwt+wrongyousee");
            signed(&h, &claims())
        }),
        ("alg none", {
            let mut h = header.clone();
            h["alg"] = json!("none");
            format!(
                "{}.{}.",
                clavex_jose::b64url_encode(h.to_string().as_bytes()),
                clavex_jose::b64url_encode(claims().to_string().as_bytes())
            )
        }),
        ("alg RS256", {
            let mut h = header.clone();
            h["alg"] = json!("RS256");
            signed(&h, &claims())
        }),
        ("signature corrupted", {
            let p = signed(&header, &claims());
            let (input, sig) = p.rsplit_once('.').unwrap();
            let mut bytes = clavex_jose::b64url_decode(sig).unwrap();
            bytes[0] ^= 0x5a;
            format!("{input}.{}", clavex_jose::b64url_encode(&bytes))
        }),
        ("private jwk", {
            let mut h = header.clone();
            h["jwk"]["d"] = json!(clavex_jose::b64url_encode(&[7u8; 32]));
            signed(&h, &claims())
        }),
        (
            "htm PUT",
            signed(&header, &with(claims(), "htm", json!("PUT"))),
        ),
        (
            "htu suffix",
            signed(
                &header,
                &with(claims(), "htu", json!(format!("{URL}ohnonotagain"))),
            ),
        ),
        (
            "htu other path",
            signed(
                &header,
                &with(claims(), "htu", json!("https://api.bank.example/payments")),
            ),
        ),
        (
            "iat +1h",
            signed(&header, &with(claims(), "iat", json!(NOW + 3600))),
        ),
        (
            "iat -1h",
            signed(&header, &with(claims(), "iat", json!(NOW - 3600))),
        ),
        (
            "iat +11s",
            signed(&header, &with(claims(), "iat", json!(NOW + 11))),
        ),
        (
            "iat -61s",
            signed(&header, &with(claims(), "iat", json!(NOW - 61))),
        ),
        (
            "iat string",
            signed(&header, &with(claims(), "iat", json!("now"))),
        ),
        (
            "jti too long",
            signed(&header, &with(claims(), "jti", json!("x".repeat(257)))),
        ),
    ];
    for (what, proof) in &refused {
        let r = call(&v, &token, proof).await;
        match r {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => {
                assert_eq!(e.code, InvalidDpopProof, "{what}: {e}");
                assert_eq!(e.status(), 401, "{what}");
            }
        }
    }

    let accepted: Vec<(&str, String)> = vec![
        (
            "htu ?query#fragment",
            signed(
                &header,
                &with(claims(), "htu", json!(format!("{URL}?query#fragment"))),
            ),
        ),
        (
            "htu upper-case scheme and host",
            signed(
                &header,
                &with(claims(), "htu", json!("HTTPS://API.BANK.EXAMPLE/accounts")),
            ),
        ),
        (
            "htu :443",
            signed(
                &header,
                &with(
                    claims(),
                    "htu",
                    json!("https://api.bank.example:443/accounts"),
                ),
            ),
        ),
        ("extra header member and claim", {
            let mut h = header.clone();
            h["x-unknown"] = json!("yes");
            signed(&h, &with(claims(), "whatever", json!(42)))
        }),
        ("nbf and exp", {
            let c = with(claims(), "nbf", json!(NOW));
            signed(&header, &with(c, "exp", json!(NOW + 300)))
        }),
        (
            "iat -10s",
            signed(&header, &with(claims(), "iat", json!(NOW - 10))),
        ),
        (
            "iat +8s",
            signed(&header, &with(claims(), "iat", json!(NOW + 8))),
        ),
        (
            "iat -60s",
            signed(&header, &with(claims(), "iat", json!(NOW - 60))),
        ),
        (
            "iat +10s",
            signed(&header, &with(claims(), "iat", json!(NOW + 10))),
        ),
        ("typ application/dpop+jwt", {
            let mut h = header.clone();
            h["typ"] = json!("application/DPoP+JWT");
            signed(&h, &claims())
        }),
    ];
    for (what, proof) in &accepted {
        if let Err(e) = call(&v, &token, proof).await {
            panic!("{what}: refused: {e}");
        }
    }

    // An http resource at its default port.
    let http_url = "http://127.0.0.1/accounts";
    let h = holder.proof("GET", "HTTP://127.0.0.1:80/accounts", &token);
    let auth = format!("DPoP {token}");
    v.verify(
        &ResourceRequest {
            method: "GET",
            url: http_url,
            authorization: &[&auth],
            dpop: &[&h],
            token_in_query: false,
            token_in_body: false,
        },
        NOW,
    )
    .await
    .unwrap();

    // Proof keys of every FAPI algorithm; none outside the configured list.
    for alg in [Algorithm::Ps256, Algorithm::EdDsa] {
        let holder = Holder { key: key(alg) };
        let token = issuer.token(&issuer.claims(&holder.jkt()));
        call(&v, &token, &holder.proof("GET", URL, &token))
            .await
            .unwrap();
        let only_es = ResourceVerifier::with_keys(
            {
                let mut c = config();
                c.allowed_algs = vec![Algorithm::Es256];
                c
            },
            vec![issuer.key.public_key()],
        );
        let r = call(&only_es, &token, &holder.proof("GET", URL, &token)).await;
        assert_refused(&r, InvalidDpopProof, "is not allowed; use one of ES256");
    }
}

#[tokio::test]
async fn grant_status_hook() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let mut config = config();
    config.grant_status = Some(Arc::new(Grants(vec!["live".into()])));
    let v = ResourceVerifier::with_keys(config, vec![issuer.key.public_key()]);
    let live = issuer.token(&with(
        issuer.claims(&holder.jkt()),
        "grant_id",
        json!("live"),
    ));
    call(&v, &live, &holder.proof("GET", URL, &live))
        .await
        .unwrap();
    let revoked = issuer.token(&with(
        issuer.claims(&holder.jkt()),
        "grant_id",
        json!("gone"),
    ));
    let r = call(&v, &revoked, &holder.proof("GET", URL, &revoked)).await;
    assert_refused(&r, InvalidToken, "has been revoked");
    // Tokens without a grant_id (client_credentials) are not looked up.
    let plain = issuer.token(&issuer.claims(&holder.jkt()));
    call(&v, &plain, &holder.proof("GET", URL, &plain))
        .await
        .unwrap();
}

#[tokio::test]
async fn memory_replay_cache_expiry_and_capacity() {
    let cache = MemoryReplayCache::with_capacity(2);
    assert!(cache.record_once("a", NOW + 70, NOW).await.unwrap());
    assert!(!cache.record_once("a", NOW + 70, NOW + 70).await.unwrap());
    // After its record expired the id may be used again (the proof itself would be too old).
    assert!(cache.record_once("a", NOW + 200, NOW + 71).await.unwrap());
    assert!(cache.record_once("b", NOW + 200, NOW + 71).await.unwrap());
    // Full of live records: refuse rather than forget one.
    let err = cache
        .record_once("c", NOW + 200, NOW + 72)
        .await
        .unwrap_err();
    assert_eq!(err.code, ServerError);
    // Once they expire, they are purged and new ids fit.
    assert!(cache.record_once("c", NOW + 400, NOW + 201).await.unwrap());
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn injected_clock_decides_expiry() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let v = verifier(&issuer);
    let token = issuer.token(&issuer.claims(&holder.jkt()));
    let later = NOW + 301;
    let mut claims = holder.claims("GET", URL, &token, later);
    claims["iat"] = json!(later);
    let proof = holder.sign(&holder.header(), &claims);
    let auth = format!("DPoP {token}");
    let r = v
        .verify(
            &ResourceRequest {
                method: "GET",
                url: URL,
                authorization: &[&auth],
                dpop: &[&proof],
                token_in_query: false,
                token_in_body: false,
            },
            later,
        )
        .await;
    assert_refused(&r, InvalidToken, "expired");
}

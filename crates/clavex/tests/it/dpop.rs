//! DPoP proofs at the token endpoint (RFC 9449 §4.2, §4.3, §6.1; FAPI 2.0 SP §5.3.2.1-4): every
//! check of §4.3, with the status, error code and description of each refusal.

use clavex_jose::Algorithm;
use clavex_testkit::*;
use serde_json::{Map, Value, json};

/// A node with one ES256 client-credentials client; returns the node, the client key, the
/// client_id and a DPoP key.
async fn setup() -> (TestServer, ClientKey, String, ClientKey) {
    let server = spawn().await;
    let key = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    (server, key, client_id, ClientKey::es256())
}

/// Sends `proofs` as `DPoP` headers with a fresh, valid client assertion.
async fn send(server: &TestServer, key: &ClientKey, client_id: &str, proofs: &[&str]) -> Answer {
    let assertion = key.assertion(client_id, &server.issuer, server.now());
    server
        .client_credentials_with(&assertion, proofs, &[])
        .await
}

/// Valid proof claims for the token endpoint, changed by `change`.
fn proof_claims(
    server: &TestServer,
    dpop: &ClientKey,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Value {
    let mut claims = dpop.dpop_claims("POST", &server.token_endpoint, server.now());
    change(claims.as_object_mut().expect("claims object"));
    claims
}

/// The proof header of `dpop`, changed by `change`.
fn proof_header(dpop: &ClientKey, change: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut header = dpop.dpop_header();
    change(header.as_object_mut().expect("header object"));
    header
}

#[track_caller]
fn assert_ok(answer: &Answer, what: &str) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP", "{what}");
    decode_unverified(answer.body["access_token"].as_str().expect("access_token")).1
}

#[tokio::test]
async fn exactly_one_dpop_header_is_required() {
    let (server, key, client_id, dpop) = setup().await;
    send(&server, &key, &client_id, &[])
        .await
        .assert_oauth_error(400, "invalid_request", "a DPoP proof is required");

    let a = server.token_proof(&dpop);
    let b = server.token_proof(&dpop);
    send(&server, &key, &client_id, &[&a, &b])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "exactly one DPoP header is allowed",
        );
    // Even the same valid proof twice.
    send(&server, &key, &client_id, &[&a, &a])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "exactly one DPoP header");

    // Neither proof was consumed by the refusals: each alone is accepted.
    assert_ok(&send(&server, &key, &client_id, &[&a]).await, "proof a");
    assert_ok(&send(&server, &key, &client_id, &[&b]).await, "proof b");
}

#[tokio::test]
async fn typ_must_be_dpop_jwt() {
    let (server, key, client_id, dpop) = setup().await;
    for typ in [
        None,
        Some(json!("jwt")),
        Some(json!("JWT")),
        Some(json!("dpop+jwt+wrongyousee")),
        Some(json!("at+jwt")),
        Some(json!("text/dpop+jwt")),
        Some(json!("")),
    ] {
        let header = proof_header(&dpop, |h| match &typ {
            None => {
                h.remove("typ");
            }
            Some(t) => {
                h.insert("typ".into(), t.clone());
            }
        });
        let proof = dpop.sign_raw(&header, &proof_claims(&server, &dpop, |_| {}));
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        assert_eq!(answer.status.as_u16(), 400, "typ {typ:?}: {}", answer.text);
        answer.assert_oauth_error(400, "invalid_dpop_proof", "DPoP proof typ must be dpop+jwt");
    }
    // A non-string typ is not a valid JWS at all.
    let header = proof_header(&dpop, |h| {
        h.insert("typ".into(), json!(1));
    });
    let proof = dpop.sign_raw(&header, &proof_claims(&server, &dpop, |_| {}));
    send(&server, &key, &client_id, &[&proof])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "JWS header member 'typ' must be a string",
        );

    // Control: the header as built, signed the same way, is accepted.
    let proof = dpop.sign_raw(&dpop.dpop_header(), &proof_claims(&server, &dpop, |_| {}));
    assert_ok(
        &send(&server, &key, &client_id, &[&proof]).await,
        "typ dpop+jwt",
    );
}

#[tokio::test]
async fn algorithms_outside_fapi_are_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let claims = || proof_claims(&server, &dpop, |_| {});

    let none_unsigned = raw_jwt(
        &proof_header(&dpop, |h| {
            h.insert("alg".into(), json!("none"));
        }),
        &claims(),
        b"",
    );
    send(&server, &key, &client_id, &[&none_unsigned])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "JWS signature is empty");

    let none_signed = dpop.sign_raw(
        &proof_header(&dpop, |h| {
            h.insert("alg".into(), json!("none"));
        }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&none_signed])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "algorithm none is not allowed");

    // RS256 with an RSA key in the header (the jwk has no `alg`, so only the rule refuses it).
    let rsa = ClientKey::new(Algorithm::Ps256);
    let mut rsa_jwk = rsa.dpop_jwk();
    rsa_jwk.as_object_mut().expect("jwk").remove("alg");
    let rs256 = rs256_sign(
        &rsa,
        &json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": rsa_jwk }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&rs256])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "algorithm RS256 is not allowed");

    // HS256, keyed with the public JWK in the header.
    let jwk = dpop.dpop_jwk();
    let hs256 = hs256_sign(
        jwk.to_string().as_bytes(),
        &json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&hs256])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "algorithm HS256 is not allowed");

    // Control: the RSA key with PS256 is accepted.
    let ps256 = rsa.dpop_proof("POST", &server.token_endpoint, server.now());
    assert_ok(&send(&server, &key, &client_id, &[&ps256]).await, "PS256");
}

#[tokio::test]
async fn jwk_header_rules() {
    let (server, key, client_id, dpop) = setup().await;
    let claims = || proof_claims(&server, &dpop, |_| {});

    let no_jwk = dpop.sign_raw(
        &proof_header(&dpop, |h| {
            h.remove("jwk");
        }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&no_jwk])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "DPoP proof header has no jwk");

    // The key's public members plus a private `d` (properly signed by that key): a leaked private
    // key is refused whatever else is right.
    let with_d = dpop.sign_raw(
        &proof_header(&dpop, |h| {
            h["jwk"]
                .as_object_mut()
                .expect("jwk")
                .insert("d".into(), json!(b64(&[1u8; 32])));
        }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&with_d])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof jwk: JWK contains private key member 'd'",
        );

    // A valid public key that did not make the signature.
    let other = ClientKey::es256();
    let other_jwk = dpop.sign_raw(
        &proof_header(&dpop, |h| {
            h.insert("jwk".into(), other.dpop_jwk());
        }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&other_jwk])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof signature verification failed",
        );

    // A key of another type than the alg.
    let ed = ClientKey::new(Algorithm::EdDsa);
    let mut ed_jwk = ed.dpop_jwk();
    ed_jwk.as_object_mut().expect("jwk").remove("alg");
    let mismatched = dpop.sign_raw(
        &proof_header(&dpop, |h| {
            h.insert("jwk".into(), ed_jwk);
        }),
        &claims(),
    );
    send(&server, &key, &client_id, &[&mismatched])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof alg does not match its jwk",
        );

    // Not a JWK at all; a symmetric key.
    for (jwk, fragment) in [
        (json!("a string"), "DPoP proof jwk must be a JSON object"),
        (
            json!({ "kty": "oct", "k": b64(b"0123456789abcdef") }),
            "DPoP proof jwk: JWK contains private key member 'k'",
        ),
    ] {
        let proof = dpop.sign_raw(
            &proof_header(&dpop, |h| {
                h.insert("jwk".into(), jwk.clone());
            }),
            &claims(),
        );
        send(&server, &key, &client_id, &[&proof])
            .await
            .assert_oauth_error(400, "invalid_dpop_proof", fragment);
    }
}

#[tokio::test]
async fn corrupted_signature_is_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let proof = server.token_proof(&dpop);
    let (input, signature) = proof.rsplit_once('.').expect("signature");
    let mut sig = clavex_jose::b64url_decode(signature).expect("b64");
    sig[10] ^= 0x01;
    let corrupted = format!("{input}.{}", b64(&sig));
    send(&server, &key, &client_id, &[&corrupted])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof signature verification failed",
        );
    // Claims changed after signing.
    let (header, _) = input.split_once('.').expect("header");
    let tampered = proof_claims(&server, &dpop, |c| {
        c.insert("jti".into(), json!("tampered"));
    });
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(tampered.to_string().as_bytes())
    );
    send(&server, &key, &client_id, &[&tampered])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "signature verification failed");
    // Control: the untouched proof.
    assert_ok(&send(&server, &key, &client_id, &[&proof]).await, "intact");
}

#[tokio::test]
async fn htm_must_be_post() {
    let (server, key, client_id, dpop) = setup().await;
    for htm in [json!("GET"), json!("post"), json!("PUT"), json!(["POST"])] {
        let proof = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
            c.insert("htm".into(), htm.clone());
        }));
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        let fragment = if htm.is_string() {
            "DPoP proof htm must be POST"
        } else {
            "DPoP proof has no htm claim"
        };
        assert_eq!(answer.status.as_u16(), 400, "htm {htm}: {}", answer.text);
        answer.assert_oauth_error(400, "invalid_dpop_proof", fragment);
    }
}

#[tokio::test]
async fn htu_must_be_the_token_endpoint() {
    let (server, key, client_id, dpop) = setup().await;
    let token = server.token_endpoint.clone();
    let issuer = server.issuer.clone();
    for htu in [
        format!("{issuer}/par"),
        format!("{issuer}/jwks"),
        format!("{token}x"),
        format!("{token}/"),
        format!("{token}/extra"),
        token.replace("/acme/", "/ACME/"),
        token.replace("http://", "https://"),
        token.replace("127.0.0.1", "127.0.0.2"),
        format!("{}/other/token", server.base),
        "/acme/token".to_owned(),
        "not a url".to_owned(),
    ] {
        let proof = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
            c.insert("htu".into(), json!(htu));
        }));
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        assert_eq!(answer.status.as_u16(), 400, "htu {htu}: {}", answer.text);
        answer.assert_oauth_error(
            400,
            "invalid_dpop_proof",
            &format!("DPoP proof htu must be {token}"),
        );
    }
}

#[tokio::test]
async fn htu_query_and_fragment_are_ignored() {
    let (server, key, client_id, dpop) = setup().await;
    let token = server.token_endpoint.clone();
    for htu in [
        format!("{token}?query=1#frag"),
        format!("{token}?x"),
        format!("{token}#f"),
    ] {
        let proof = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
            c.insert("htu".into(), json!(htu));
        }));
        assert_ok(
            &send(&server, &key, &client_id, &[&proof]).await,
            &format!("htu {htu}"),
        );
    }
}

#[tokio::test]
async fn htu_scheme_host_case_and_default_port_are_normalised() {
    // Public URL http://id.clavex.test (port 80), so the default port can be written out.
    let server = spawn_public(SpawnOptions::default(), "id.clavex.test").await;
    assert_eq!(server.token_endpoint, "http://id.clavex.test/acme/token");
    let key = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let dpop = ClientKey::es256();
    for htu in [
        "HTTP://ID.CLAVEX.TEST/acme/token",
        "http://id.clavex.test:80/acme/token",
        "HTTP://Id.Clavex.Test:80/acme/token?q#f",
    ] {
        let proof = dpop.dpop_proof("POST", htu, server.now());
        assert_ok(
            &send(&server, &key, &client_id, &[&proof]).await,
            &format!("htu {htu}"),
        );
    }
    // Not the default port, and the path stays case-sensitive.
    for htu in [
        "http://id.clavex.test:8080/acme/token",
        "https://id.clavex.test/acme/token",
        "http://id.clavex.test/ACME/TOKEN",
    ] {
        let proof = dpop.dpop_proof("POST", htu, server.now());
        send(&server, &key, &client_id, &[&proof])
            .await
            .assert_oauth_error(
                400,
                "invalid_dpop_proof",
                "DPoP proof htu must be http://id.clavex.test/acme/token",
            );
    }
}

#[tokio::test]
async fn iat_window() {
    let (server, key, client_id, dpop) = setup().await;
    let now = server.now();
    for offset in [-60, -10, 0, 8, 10] {
        let proof = dpop.dpop_proof("POST", &server.token_endpoint, now + offset);
        assert_ok(
            &send(&server, &key, &client_id, &[&proof]).await,
            &format!("iat {offset:+}"),
        );
    }
    for (offset, fragment) in [
        (-61, "DPoP proof is too old (iat)"),
        (-3600, "DPoP proof is too old (iat)"),
        (11, "DPoP proof iat is too far in the future"),
        (3600, "DPoP proof iat is too far in the future"),
    ] {
        let proof = dpop.dpop_proof("POST", &server.token_endpoint, now + offset);
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "iat {offset:+}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_dpop_proof", fragment);
    }

    // The window moves with the server clock: a proof made now is too old 61 s later.
    let proof = dpop.dpop_proof("POST", &server.token_endpoint, server.now());
    server.clock.advance(61);
    send(&server, &key, &client_id, &[&proof])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "too old");
}

#[tokio::test]
async fn required_claims_are_enforced() {
    let (server, key, client_id, dpop) = setup().await;
    for (claim, fragment) in [
        ("jti", "DPoP proof has no jti claim"),
        ("htm", "DPoP proof has no htm claim"),
        ("htu", "DPoP proof has no htu claim"),
        ("iat", "DPoP proof has no numeric iat claim"),
    ] {
        let proof = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
            c.remove(claim);
        }));
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "without {claim}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_dpop_proof", fragment);
    }
    for (claim, value, fragment) in [
        ("jti", json!(""), "jti must be a string of 1-256 characters"),
        (
            "jti",
            json!("j".repeat(257)),
            "jti must be a string of 1-256 characters",
        ),
        ("jti", json!(12), "jti must be a string of 1-256 characters"),
        ("iat", json!("now"), "DPoP proof has no numeric iat claim"),
        ("htu", json!(["x"]), "DPoP proof has no htu claim"),
    ] {
        let proof = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
            c.insert(claim.into(), value.clone());
        }));
        let answer = send(&server, &key, &client_id, &[&proof]).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "{claim}={value}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_dpop_proof", fragment);
    }
}

#[tokio::test]
async fn a_proof_is_single_use() {
    let (server, key, client_id, dpop) = setup().await;
    let proof = server.token_proof(&dpop);
    assert_ok(
        &send(&server, &key, &client_id, &[&proof]).await,
        "first use",
    );
    send(&server, &key, &client_id, &[&proof])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof jti has already been used",
        );
    // Another proof of the same key with the same jti is a replay too.
    let (_, first) = decode_unverified(&proof);
    let same_jti = dpop.dpop_with(proof_claims(&server, &dpop, |c| {
        c.insert("jti".into(), first["jti"].clone());
        c.insert("iat".into(), json!(server.now() - 1));
    }));
    send(&server, &key, &client_id, &[&same_jti])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "already been used");
    // Still refused just before the proof stops being acceptable by its iat.
    server.clock.advance(59);
    send(&server, &key, &client_id, &[&proof])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "already been used");
}

#[tokio::test]
async fn extra_members_nbf_and_exp_are_accepted() {
    let (server, key, client_id, dpop) = setup().await;
    let now = server.now();
    let header = proof_header(&dpop, |h| {
        h.insert("x-unknown".into(), json!({ "nested": true }));
        h.insert("kid".into(), json!("ignored"));
    });
    let claims = proof_claims(&server, &dpop, |c| {
        c.insert("extra".into(), json!("claim"));
        c.insert("nbf".into(), json!(now));
        c.insert("exp".into(), json!(now + 300));
    });
    let proof = dpop.sign_raw(&header, &claims);
    let at = assert_ok(
        &send(&server, &key, &client_id, &[&proof]).await,
        "extra members",
    );
    assert_eq!(at["cnf"]["jkt"], rfc7638_thumbprint(&dpop.dpop_jwk()));
}

#[tokio::test]
async fn cnf_jkt_is_the_thumbprint_of_the_proof_key() {
    // The independent thumbprint code first reproduces RFC 7638 §3.1's example.
    let rfc = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        rfc7638_thumbprint(&rfc),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );

    let (server, key, client_id, _) = setup().await;
    let mut seen = Vec::new();
    for alg in [Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa] {
        let dpop = ClientKey::new(alg);
        let proof = dpop.dpop_proof("POST", &server.token_endpoint, server.now());
        let (header, _) = decode_unverified(&proof);
        assert_eq!(header["alg"], alg.as_str());
        let at = assert_ok(
            &send(&server, &key, &client_id, &[&proof]).await,
            alg.as_str(),
        );
        let expected = rfc7638_thumbprint(&header["jwk"]);
        assert_eq!(at["cnf"]["jkt"], expected, "{}", alg.as_str());
        assert_eq!(expected, dpop.thumbprint());
        seen.push(expected);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn proof_replay_is_refused_on_another_node_sharing_the_store() {
    let host = "id.clavex.test";
    let first = spawn_public(SpawnOptions::default(), host).await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = first.client_credentials_client(&key).await;
    let proof = first.token_proof(&dpop);
    assert_ok(
        &send(&first, &key, &client_id, &[&proof]).await,
        "first node",
    );

    let second = spawn_public(
        SpawnOptions {
            store: Some(first.store.clone()),
            ..Default::default()
        },
        host,
    )
    .await;
    assert_eq!(second.token_endpoint, first.token_endpoint);
    send(&second, &key, &client_id, &[&proof])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof jti has already been used",
        );
    let fresh = second.token_proof(&dpop);
    assert_ok(
        &send(&second, &key, &client_id, &[&fresh]).await,
        "second node, fresh proof",
    );
    send(&first, &key, &client_id, &[&fresh])
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "already been used");
}

//! `private_key_jwt` client authentication at the token endpoint (RFC 7523 §2.2 / §3, OIDC Core §9,
//! FAPI 2.0 SP §5.3.2.1): every refusal with its status, error code and description.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use clavex_jose::Algorithm;
use clavex_testkit::*;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node with one ES256 client-credentials client; returns the node, the client key, the
/// client_id and a DPoP key.
async fn setup() -> (TestServer, ClientKey, String, ClientKey) {
    let server = spawn().await;
    let key = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    (server, key, client_id, ClientKey::es256())
}

/// Sends `assertion` with a fresh, valid DPoP proof.
async fn send(server: &TestServer, dpop: &ClientKey, assertion: &str) -> Answer {
    let proof = server.token_proof(dpop);
    server
        .client_credentials_with(assertion, &[&proof], &[])
        .await
}

/// Valid assertion claims for `client_id`, changed by `change`.
fn claims(
    server: &TestServer,
    key: &ClientKey,
    client_id: &str,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Value {
    let mut claims = key.assertion_claims(client_id, &server.issuer, server.now());
    change(claims.as_object_mut().expect("claims object"));
    claims
}

#[track_caller]
fn assert_ok(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP", "{what}");
}

#[tokio::test]
async fn iss_and_sub_must_both_be_the_client_id() {
    let (server, key, client_id, dpop) = setup().await;

    let other_sub = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.insert("sub".into(), json!("someone-else"));
        }),
    );
    send(&server, &dpop, &other_sub).await.assert_oauth_error(
        401,
        "invalid_client",
        "iss and sub must both be the client_id",
    );

    let other_iss = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.insert("iss".into(), json!("someone-else"));
        }),
    );
    send(&server, &dpop, &other_iss).await.assert_oauth_error(
        401,
        "invalid_client",
        "iss and sub must both be the client_id",
    );

    let not_a_string = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.insert("sub".into(), json!(42));
        }),
    );
    send(&server, &dpop, &not_a_string)
        .await
        .assert_oauth_error(401, "invalid_client", "claim sub must be a string");

    // Control: the untouched claims of the same key are accepted.
    let good = key.assertion(&client_id, &server.issuer, server.now());
    assert_ok(&send(&server, &dpop, &good).await, "valid assertion");
}

#[tokio::test]
async fn client_id_parameter_must_match_the_assertion() {
    let (server, key, client_id, dpop) = setup().await;
    let other = server.client_credentials_client(&ClientKey::es256()).await;

    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    let proof = server.token_proof(&dpop);
    server
        .client_credentials_with(&assertion, &[&proof], &[("client_id", other.as_str())])
        .await
        .assert_oauth_error(
            401,
            "invalid_client",
            "client_id does not match the client_assertion",
        );

    // The refused request did not consume the assertion; with the matching client_id it passes.
    let proof = server.token_proof(&dpop);
    let answer = server
        .client_credentials_with(&assertion, &[&proof], &[("client_id", client_id.as_str())])
        .await;
    assert_ok(&answer, "client_id equal to iss");
}

#[tokio::test]
async fn required_claims_are_enforced() {
    let (server, key, client_id, dpop) = setup().await;
    for (claim, fragment) in [
        ("iss", "client_assertion has no iss claim"),
        ("sub", "client_assertion has no sub claim"),
        ("jti", "client_assertion has no jti claim"),
        ("exp", "client_assertion has no exp claim"),
        ("aud", "client_assertion has no aud claim"),
    ] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.remove(claim);
            }),
        );
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(
            answer.status.as_u16(),
            401,
            "without {claim}: {}",
            answer.text
        );
        answer.assert_oauth_error(401, "invalid_client", fragment);
    }

    // jti must be 1-256 characters.
    for jti in [json!(""), json!("x".repeat(257))] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("jti".into(), jti.clone());
            }),
        );
        send(&server, &dpop, &assertion).await.assert_oauth_error(
            401,
            "invalid_client",
            "jti must be 1-256 characters",
        );
    }

    // iat and nbf are optional (RFC 7523 §3).
    let assertion = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.remove("iat");
            c.remove("nbf");
        }),
    );
    assert_ok(&send(&server, &dpop, &assertion).await, "no iat, no nbf");
}

#[tokio::test]
async fn audience_must_be_the_issuer_as_a_single_string() {
    let (server, key, client_id, dpop) = setup().await;
    let issuer = server.issuer.clone();
    let refused = [
        json!(server.token_endpoint),
        json!(format!("{issuer}/par")),
        json!([issuer]),
        json!([issuer, "https://other.example/"]),
        json!("https://unrelated.example/acme"),
        json!(format!("{issuer}/")),
        json!(issuer.to_uppercase()),
        json!([]),
        json!(null),
        json!(7),
    ];
    for aud in refused {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("aud".into(), aud.clone());
            }),
        );
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(answer.status.as_u16(), 401, "aud {aud}: {}", answer.text);
        answer.assert_oauth_error(
            401,
            "invalid_client",
            &format!("aud must be the issuer identifier \"{issuer}\" as a single string"),
        );
    }

    let assertion = key.assertion(&client_id, &issuer, server.now());
    assert_ok(&send(&server, &dpop, &assertion).await, "aud = issuer");
}

#[tokio::test]
async fn legacy_audience_setting_accepts_the_id2_audiences() {
    let (server, key, client_id, dpop) = setup().await;
    let issuer = server.issuer.clone();
    let token = server.token_endpoint.clone();
    let par = format!("{issuer}/par");

    let org = server
        .patch_org(json!({ "accept_legacy_assertion_audience": true }))
        .await;
    assert_eq!(org["settings"]["accept_legacy_assertion_audience"], true);

    for aud in [
        json!(token),
        json!(par),
        json!(issuer),
        json!([issuer]),
        json!([token]),
        json!([par]),
        json!(["https://other.example/", token]),
        json!([par, "https://other.example/"]),
    ] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("aud".into(), aud.clone());
            }),
        );
        assert_ok(
            &send(&server, &dpop, &assertion).await,
            &format!("aud {aud}"),
        );
    }

    // Still refused: nothing of ours in it.
    for aud in [
        json!("https://unrelated.example/acme"),
        json!(["https://unrelated.example/acme"]),
        json!([]),
        json!(format!("{issuer}/jwks")),
    ] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("aud".into(), aud.clone());
            }),
        );
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(answer.status.as_u16(), 401, "aud {aud}: {}", answer.text);
        answer.assert_oauth_error(401, "invalid_client", "aud must be the issuer identifier");
    }

    // Switching it off again restores the final rule.
    server
        .patch_org(json!({ "accept_legacy_assertion_audience": false }))
        .await;
    let assertion = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.insert("aud".into(), json!(token));
        }),
    );
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "aud must be the issuer identifier",
    );
}

#[tokio::test]
async fn expiry_is_enforced() {
    let (server, key, client_id, dpop) = setup().await;
    let now = server.now();
    for (exp, fragment) in [
        (json!(now - 300), "client_assertion has expired"),
        (json!(now), "client_assertion has expired"),
        (
            json!(now + 601),
            "client_assertion exp is more than 600 seconds in the future",
        ),
        (
            json!(now + 86_400),
            "client_assertion exp is more than 600 seconds in the future",
        ),
        (
            json!(now.to_string()),
            "client_assertion claim exp must be a NumericDate",
        ),
    ] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("exp".into(), exp.clone());
            }),
        );
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(answer.status.as_u16(), 401, "exp {exp}: {}", answer.text);
        answer.assert_oauth_error(401, "invalid_client", fragment);
    }
    for exp in [now + 1, now + 600] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert("exp".into(), json!(exp));
            }),
        );
        assert_ok(
            &send(&server, &dpop, &assertion).await,
            &format!("exp now+{}", exp - now),
        );
    }
}

#[tokio::test]
async fn iat_and_nbf_may_be_at_most_ten_seconds_in_the_future() {
    let (server, key, client_id, dpop) = setup().await;
    let now = server.now();
    for (claim, offset) in [("iat", 10), ("nbf", 10), ("iat", 0), ("nbf", -30)] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert(claim.into(), json!(now + offset));
            }),
        );
        assert_ok(
            &send(&server, &dpop, &assertion).await,
            &format!("{claim} {offset:+}"),
        );
    }
    for (claim, offset, fragment) in [
        ("iat", 11, "client_assertion iat is in the future"),
        ("iat", 61, "client_assertion iat is in the future"),
        ("nbf", 11, "client_assertion is not yet valid (nbf)"),
        ("nbf", 61, "client_assertion is not yet valid (nbf)"),
    ] {
        let assertion = key.sign(
            None,
            None,
            claims(&server, &key, &client_id, |c| {
                c.insert(claim.into(), json!(now + offset));
            }),
        );
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(
            answer.status.as_u16(),
            401,
            "{claim} {offset:+}: {}",
            answer.text
        );
        answer.assert_oauth_error(401, "invalid_client", fragment);
    }
}

#[tokio::test]
async fn an_assertion_is_single_use() {
    let (server, key, client_id, dpop) = setup().await;
    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    assert_ok(&send(&server, &dpop, &assertion).await, "first use");
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "client_assertion jti has already been used",
    );

    // The jti is what is single use, not the exact bytes: another assertion with that jti is a replay.
    let (_, first) = decode_unverified(&assertion);
    let same_jti = key.sign(
        None,
        None,
        claims(&server, &key, &client_id, |c| {
            c.insert("jti".into(), first["jti"].clone());
            c.insert("exp".into(), json!(server.now() + 120));
        }),
    );
    send(&server, &dpop, &same_jti).await.assert_oauth_error(
        401,
        "invalid_client",
        "already been used",
    );

    // ... per client: another client may use the same jti value.
    let other_key = ClientKey::es256();
    let other = server.client_credentials_client(&other_key).await;
    let other_assertion = other_key.sign(
        None,
        None,
        claims(&server, &other_key, &other, |c| {
            c.insert("jti".into(), first["jti"].clone());
        }),
    );
    assert_ok(
        &send(&server, &dpop, &other_assertion).await,
        "same jti, other client",
    );
}

#[tokio::test]
async fn assertion_is_not_consumed_by_a_request_that_fails_later() {
    let (server, key, client_id, dpop) = setup().await;
    let assertion = key.assertion(&client_id, &server.issuer, server.now());

    // No DPoP proof.
    server
        .client_credentials_with(&assertion, &[], &[])
        .await
        .assert_oauth_error(400, "invalid_request", "a DPoP proof is required");
    // A scope the organization does not offer.
    let proof = server.token_proof(&dpop);
    server
        .client_credentials_with(&assertion, &[&proof], &[("scope", "admin")])
        .await
        .assert_oauth_error(400, "invalid_scope", "scope admin is not offered");
    // A resource that is not registered.
    let proof = server.token_proof(&dpop);
    server
        .client_credentials_with(
            &assertion,
            &[&proof],
            &[("resource", "https://evil.example/")],
        )
        .await
        .assert_oauth_error(400, "invalid_target", "is not registered");

    // The same assertion now succeeds once, and only once.
    assert_ok(
        &send(&server, &dpop, &assertion).await,
        "after failed attempts",
    );
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "already been used",
    );
}

#[tokio::test]
async fn algorithms_outside_fapi_are_refused() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let rsa = ClientKey::new(Algorithm::Ps256);
    // The RSA key registered without an `alg` member, so nothing but the algorithm rule refuses RS256.
    let mut jwk = rsa.key.public_jwk();
    jwk.as_object_mut().expect("jwk").remove("alg");
    let client_id = server
        .register_client(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [jwk] },
        }))
        .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let kid = rsa.key.kid().to_owned();
    let fresh = || rsa.assertion_claims(&client_id, &server.issuer, server.now());

    let rs256 = rs256_sign(&rsa, &json!({ "alg": "RS256", "kid": kid }), &fresh());
    send(&server, &dpop, &rs256).await.assert_oauth_error(
        401,
        "invalid_client",
        "algorithm RS256 is not allowed",
    );

    let none_unsigned = raw_jwt(&json!({ "alg": "none", "kid": kid }), &fresh(), b"");
    send(&server, &dpop, &none_unsigned)
        .await
        .assert_oauth_error(401, "invalid_client", "JWS signature is empty");
    let none_signed = rsa.sign_raw(&json!({ "alg": "none", "kid": kid }), &fresh());
    send(&server, &dpop, &none_signed).await.assert_oauth_error(
        401,
        "invalid_client",
        "algorithm none is not allowed",
    );

    // HS256 keyed with the client's public JWK: the classic key-confusion attempt.
    let secret = jwk.to_string();
    let hs256 = hs256_sign(
        secret.as_bytes(),
        &json!({ "alg": "HS256", "kid": kid }),
        &fresh(),
    );
    send(&server, &dpop, &hs256).await.assert_oauth_error(
        401,
        "invalid_client",
        "algorithm HS256 is not allowed",
    );

    // Control: the same client and key with PS256 is accepted.
    let ps256 = rsa.assertion(&client_id, &server.issuer, server.now());
    assert_ok(&send(&server, &dpop, &ps256).await, "PS256");
}

#[tokio::test]
async fn ps256_and_eddsa_assertions_are_accepted() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    for alg in [Algorithm::Ps256, Algorithm::EdDsa, Algorithm::Es256] {
        let key = ClientKey::new(alg);
        let client_id = server.client_credentials_client(&key).await;
        let assertion = key.assertion(&client_id, &server.issuer, server.now());
        let (header, _) = decode_unverified(&assertion);
        assert_eq!(header["alg"], alg.as_str());
        assert_ok(&send(&server, &dpop, &assertion).await, alg.as_str());
    }

    // The fully-specified name Ed25519 (RFC 9864) for the same EdDSA key.
    let ed = ClientKey::new(Algorithm::EdDsa);
    let client_id = server.client_credentials_client(&ed).await;
    let assertion = ed.sign_raw(
        &json!({ "alg": "Ed25519", "kid": ed.key.kid() }),
        &ed.assertion_claims(&client_id, &server.issuer, server.now()),
    );
    assert_ok(&send(&server, &dpop, &assertion).await, "Ed25519");
}

#[tokio::test]
async fn assertion_signed_with_a_key_the_client_did_not_register_is_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let stranger = ClientKey::es256();
    let fresh = || key.assertion_claims(&client_id, &server.issuer, server.now());

    // The stranger's key under the registered kid: the signature does not verify.
    let forged = stranger.sign_raw(&json!({ "alg": "ES256", "kid": key.key.kid() }), &fresh());
    send(&server, &dpop, &forged).await.assert_oauth_error(
        401,
        "invalid_client",
        "client_assertion signature verification failed",
    );
    // No kid: the only registered key is chosen, and it does not verify.
    let forged = stranger.sign_raw(&json!({ "alg": "ES256" }), &fresh());
    send(&server, &dpop, &forged).await.assert_oauth_error(
        401,
        "invalid_client",
        "client_assertion signature verification failed",
    );
    // The stranger's own kid: no such key.
    let forged = stranger.sign(None, None, fresh());
    send(&server, &dpop, &forged).await.assert_oauth_error(
        401,
        "invalid_client",
        &format!(
            "no registered key of this client matches kid {}",
            stranger.key.kid()
        ),
    );
    // Another registered client's key cannot authenticate this client.
    let other_key = ClientKey::es256();
    server.client_credentials_client(&other_key).await;
    let forged = other_key.sign(None, None, fresh());
    send(&server, &dpop, &forged).await.assert_oauth_error(
        401,
        "invalid_client",
        "no registered key of this client matches kid",
    );

    // Control: no kid, signed by the registered key, is accepted.
    let good = key.sign_raw(&json!({ "alg": "ES256" }), &fresh());
    assert_ok(&send(&server, &dpop, &good).await, "no kid, registered key");
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let assertion = key.sign_raw(
        &json!({ "alg": "ES256", "kid": "not-registered" }),
        &key.assertion_claims(&client_id, &server.issuer, server.now()),
    );
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "no registered key of this client matches kid not-registered and alg ES256",
    );
}

#[tokio::test]
async fn registered_signing_alg_is_enforced() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let es = ClientKey::es256();
    let ps = ClientKey::new(Algorithm::Ps256);
    let client_id = server
        .register_client(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "PS256",
            "jwks": { "keys": [es.key.public_jwk(), ps.key.public_jwk()] },
        }))
        .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let assertion = es.assertion(&client_id, &server.issuer, server.now());
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "this client must sign its assertions with PS256",
    );
    let assertion = ps.assertion(&client_id, &server.issuer, server.now());
    assert_ok(&send(&server, &dpop, &assertion).await, "PS256");
}

#[tokio::test]
async fn shared_secret_methods_are_refused() {
    let (server, key, client_id, dpop) = setup().await;

    // client_secret_post, alone and next to a valid assertion.
    let proof = server.token_proof(&dpop);
    server
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", "s3cret"),
            ],
            &[&proof],
        )
        .await
        .assert_oauth_error(401, "invalid_client", "client_secret_post is not allowed");
    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    let proof = server.token_proof(&dpop);
    server
        .client_credentials_with(&assertion, &[&proof], &[("client_secret", "s3cret")])
        .await
        .assert_oauth_error(401, "invalid_client", "client_secret_post is not allowed");

    // client_secret_basic, alone and next to a valid assertion.
    let basic = format!("Basic {}", b64(format!("{client_id}:s3cret").as_bytes()));
    for scheme in [basic.clone(), basic.replacen("Basic", "basic", 1)] {
        let proof = server.token_proof(&dpop);
        server
            .token_request_with_headers(
                &[("grant_type", "client_credentials")],
                &[&proof],
                &[("Authorization", scheme.as_str())],
            )
            .await
            .assert_oauth_error(401, "invalid_client", "client_secret_basic is not allowed");
    }
    let proof = server.token_proof(&dpop);
    server
        .token_request_with_headers(
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ],
            &[&proof],
            &[("Authorization", basic.as_str())],
        )
        .await
        .assert_oauth_error(401, "invalid_client", "client_secret_basic is not allowed");

    // Neither attempt consumed the assertion.
    assert_ok(&send(&server, &dpop, &assertion).await, "assertion alone");
}

/// A form POST to `url` with an optional `Authorization` header.
async fn post_form(
    server: &TestServer,
    url: &str,
    form: &[(&str, &str)],
    authorization: Option<&str>,
) -> Answer {
    let mut request = server.http.post(url).form(form);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    Answer::from(request.send().await.expect("POST")).await
}

fn www_authenticate(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ASCII challenge").to_owned())
}

/// RFC 6749 §5.2: a client that tried to authenticate with the `Authorization` header gets 401
/// `invalid_client` with a `WWW-Authenticate` challenge for the scheme it used, at every endpoint
/// that authenticates clients (token and PAR), in the organization's issuer as realm.
#[tokio::test]
async fn authorization_header_attempts_get_a_challenge_for_their_scheme() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let basic = format!(
        "Basic {}",
        b64(format!("{}:s3cret", client.client_id).as_bytes())
    );
    let realm = format!("realm=\"{}\"", server.issuer);
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let endpoints = [
        (
            server.token_endpoint.clone(),
            "grant_type",
            "client_credentials",
        ),
        (server.par_endpoint(), "response_type", "code"),
    ];
    for (url, name, value) in &endpoints {
        let bare = [(*name, *value), ("client_id", client.client_id.as_str())];
        let with_assertion = [
            (*name, *value),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ];
        // client_secret_basic, in any case, alone or next to an assertion: a Basic challenge.
        for (header, form) in [
            (basic.clone(), &bare[..]),
            (basic.replacen("Basic", "basic", 1), &bare[..]),
            (basic.clone(), &with_assertion[..]),
        ] {
            let answer = post_form(&server, url, form, Some(&header)).await;
            answer.assert_oauth_error(401, "invalid_client", "client_secret_basic is not allowed");
            let challenge = www_authenticate(&answer);
            assert_eq!(
                challenge.as_deref(),
                Some(format!("Basic {realm}").as_str()),
                "{url}: {}",
                answer.text
            );
        }
        // Another scheme, and no usable client authentication: a challenge for that scheme.
        let answer = post_form(&server, url, &bare, Some("Bearer some-token")).await;
        answer.assert_oauth_error(401, "invalid_client", "client authentication is required");
        assert_eq!(
            www_authenticate(&answer).as_deref(),
            Some(format!("Bearer {realm}").as_str()),
            "{url}"
        );
        // Not an authentication scheme at all: nothing to echo.
        let answer = post_form(&server, url, &bare, Some("(Basic) abc")).await;
        answer.assert_oauth_error(401, "invalid_client", "client authentication is required");
        assert_eq!(www_authenticate(&answer), None, "{url}");
        // Without the header: invalid_client, and no challenge (private_key_jwt is no HTTP scheme).
        let answer = post_form(&server, url, &bare, None).await;
        answer.assert_oauth_error(401, "invalid_client", "client authentication is required");
        assert_eq!(www_authenticate(&answer), None, "{url}");
    }
    // Control: none of this consumed the assertion, which still authenticates at PAR.
    let (_, challenge) = flow::pkce();
    let answer = server
        .par_with_assertion(
            &client,
            &assertion,
            &TestServer::authorization_params(&client, "openid", &challenge),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
}

#[tokio::test]
async fn assertion_parameters_are_required() {
    let (server, key, client_id, dpop) = setup().await;
    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("client_id", client_id.as_str())],
            "client authentication is required",
        ),
        (
            &[("client_assertion", assertion.as_str())],
            "client_assertion_type is missing",
        ),
        (
            &[("client_assertion_type", JWT_BEARER)],
            "client_assertion is missing",
        ),
        (
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", ""),
            ],
            "client_assertion is missing",
        ),
        (
            &[
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ],
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        (
            &[
                ("client_assertion_type", "jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ],
            "client_assertion_type must be",
        ),
    ];
    for (params, fragment) in cases {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(params);
        let proof = server.token_proof(&dpop);
        let answer = server.token_request(&form, &[&proof]).await;
        assert_eq!(answer.status.as_u16(), 401, "{params:?}: {}", answer.text);
        answer.assert_oauth_error(401, "invalid_client", fragment);
    }
    assert_ok(&send(&server, &dpop, &assertion).await, "complete request");
}

#[tokio::test]
async fn unknown_client_is_refused() {
    let (server, key, _, dpop) = setup().await;
    let assertion = key.assertion("clavex_fapi_nobody", &server.issuer, server.now());
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "unknown client",
    );
}

#[tokio::test]
async fn malformed_assertions_are_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let valid = key.assertion(&client_id, &server.issuer, server.now());
    let (h, rest) = valid.split_once('.').expect("header");
    let (p, s) = rest.split_once('.').expect("payload");
    let claims = key.assertion_claims(&client_id, &server.issuer, server.now());
    let header = json!({ "alg": "ES256", "kid": key.key.kid() });
    let duplicate_iss = format!(
        r#"{{"iss":"{client_id}","iss":"someone-else","sub":"{client_id}","aud":"{}","exp":{},"jti":"dup"}}"#,
        server.issuer,
        server.now() + 60
    );
    let cases: Vec<(String, &str)> = vec![
        (format!("{h}.{p}"), "JWS must have three segments"),
        ("garbage".to_owned(), "JWS must have three segments"),
        (format!("{valid}.{s}"), "JWS must have three segments"),
        (
            format!("{h}.{p}.{s}="),
            "JWS signature is not valid base64url without padding",
        ),
        (
            format!("{h}=.{p}.{s}"),
            "JWS header is not valid base64url without padding",
        ),
        (
            format!("{h}.{p}+.{s}"),
            "JWS payload is not valid base64url without padding",
        ),
        ("a.b.c".to_owned(), "not valid base64url"),
        (format!("{h}.{p}."), "JWS signature is empty"),
        (
            format!("{}.{p}.{s}", b64(b"not json")),
            "JWS header is not valid JSON",
        ),
        (
            format!("{h}.{}.{s}", b64(b"[1,2]")),
            "JWS payload is not a JSON object",
        ),
        (
            key.sign_raw(&json!({ "alg": "ES256", "crit": ["exp"] }), &claims),
            "crit header is not supported",
        ),
        (
            key.sign_raw(
                &json!({ "alg": "ES256", "jku": "https://attacker.example/jwks" }),
                &claims,
            ),
            "JWS header member 'jku' is not allowed",
        ),
        (
            {
                let input = format!(
                    "{}.{}",
                    b64(header.to_string().as_bytes()),
                    b64(duplicate_iss.as_bytes())
                );
                format!(
                    "{input}.{}",
                    b64(&key.key.sign(input.as_bytes()).expect("sign"))
                )
            },
            "JWS payload has duplicate member 'iss'",
        ),
        (
            format!("{h}.{}.{s}", "A".repeat(17_000)),
            "JWS is longer than 16384 bytes",
        ),
    ];
    for (assertion, fragment) in cases {
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(answer.status.as_u16(), 401, "{fragment}: {}", answer.text);
        answer.assert_oauth_error(401, "invalid_client", "client_assertion is not a valid JWS");
        answer.assert_oauth_error(401, "invalid_client", fragment);
    }
    assert_ok(
        &send(&server, &dpop, &valid).await,
        "the untouched assertion",
    );
}

#[tokio::test]
async fn assertion_replay_is_refused_on_another_node_sharing_the_store() {
    let host = "id.clavex.test";
    let first = spawn_public(SpawnOptions::default(), host).await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = first.client_credentials_client(&key).await;
    let assertion = key.assertion(&client_id, &first.issuer, first.now());
    assert_ok(&send(&first, &dpop, &assertion).await, "first node");

    let second = spawn_public(
        SpawnOptions {
            store: Some(first.store.clone()),
            ..Default::default()
        },
        host,
    )
    .await;
    assert_eq!(second.issuer, first.issuer);
    send(&second, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "client_assertion jti has already been used",
    );
    // Control: the second node serves this client with a fresh assertion.
    let fresh = key.assertion(&client_id, &second.issuer, second.now());
    assert_ok(&send(&second, &dpop, &fresh).await, "second node, fresh");
    // And the replay record the second node made is seen by the first.
    send(&first, &dpop, &fresh).await.assert_oauth_error(
        401,
        "invalid_client",
        "already been used",
    );
}

// ---- jwks_uri clients ----

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request with the current document.
struct JwksServer {
    url: String,
    document: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start(body: String) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
        let document = Arc::new(Mutex::new((200u16, body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (doc, count) = (doc.clone(), count.clone());
                tokio::spawn(async move {
                    // Read the request head (a GET has no body).
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = doc.lock().expect("document").clone();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            document,
            hits,
            task,
        }
    }

    fn set(&self, status: u16, body: String) {
        *self.document.lock().expect("document") = (status, body);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn jwks_uri_client(server: &TestServer, jwks_uri: &str) -> String {
    server
        .register_client(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        }))
        .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned()
}

#[tokio::test]
async fn jwks_uri_keys_are_fetched_and_refetched_after_rotation() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let old = ClientKey::with_kid(Algorithm::Es256, "client-key-1");
    let jwks = JwksServer::start(old.jwks().to_string()).await;
    let client_id = jwks_uri_client(&server, &jwks.url).await;

    let answer = server
        .client_credentials(&client_id, &old, &dpop, &[])
        .await;
    assert_ok(&answer, "key from jwks_uri");
    assert_eq!(jwks.hits(), 1);
    // Cached: a second request does not fetch again.
    assert_ok(
        &server
            .client_credentials(&client_id, &old, &dpop, &[])
            .await,
        "cached key",
    );
    assert_eq!(jwks.hits(), 1);

    // The client rotates: only the new key is published.
    let new = ClientKey::with_kid(Algorithm::Es256, "client-key-2");
    jwks.set(200, new.jwks().to_string());

    // Within 10 s of the last fetch the unknown kid does not trigger a refetch.
    server.clock.advance(5);
    server
        .client_credentials(&client_id, &new, &dpop, &[])
        .await
        .assert_oauth_error(
            401,
            "invalid_client",
            "no key in the client's jwks_uri matches the assertion's kid and alg",
        );
    assert_eq!(jwks.hits(), 1);

    // 11 s after the fetch, the unknown kid makes the server fetch again and find the new key.
    server.clock.advance(6);
    assert_ok(
        &server
            .client_credentials(&client_id, &new, &dpop, &[])
            .await,
        "rotated key after refetch",
    );
    assert_eq!(jwks.hits(), 2);

    // The retired key is gone from the refreshed set.
    server
        .client_credentials(&client_id, &old, &dpop, &[])
        .await
        .assert_oauth_error(
            401,
            "invalid_client",
            "no key in the client's jwks_uri matches",
        );
}

#[tokio::test]
async fn jwks_uri_with_a_private_key_is_refused() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let key = ClientKey::es256();
    let mut jwk = key.key.public_jwk();
    jwk.as_object_mut()
        .expect("jwk")
        .insert("d".into(), json!(b64(&[7u8; 32])));
    let jwks = JwksServer::start(json!({ "keys": [jwk] }).to_string()).await;
    let client_id = jwks_uri_client(&server, &jwks.url).await;
    let answer = server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await;
    answer.assert_oauth_error(
        401,
        "invalid_client",
        "the client's JWKS could not be fetched",
    );
    answer.assert_oauth_error(401, "invalid_client", "private key member 'd'");
    assert_eq!(jwks.hits(), 1);

    // Control: the same document without `d` is accepted once the client fixes it.
    jwks.set(200, key.jwks().to_string());
    server.clock.advance(11);
    assert_ok(
        &server
            .client_credentials(&client_id, &key, &dpop, &[])
            .await,
        "public document",
    );
}

#[tokio::test]
async fn jwks_uri_with_invalid_json_or_an_error_status_is_refused() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let key = ClientKey::es256();
    let jwks = JwksServer::start(r#"{"keys": [ not json"#.to_owned()).await;
    let client_id = jwks_uri_client(&server, &jwks.url).await;
    server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "jwks_uri did not return JSON");

    jwks.set(200, json!({ "keys": "none" }).to_string());
    server.clock.advance(11);
    server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "jwks_uri document");

    jwks.set(500, key.jwks().to_string());
    server.clock.advance(11);
    server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "jwks_uri answered HTTP 500");
    assert_eq!(jwks.hits(), 3);
}

/// A failed `jwks_uri` fetch is remembered per URI for `JWKS_FETCH_FAILURE_RETRY_SECS` (10 s):
/// assertions meanwhile get `invalid_client` without another outbound request, whichever client
/// uses the URI; after the window the recovered `jwks_uri` is fetched and used again.
#[tokio::test]
async fn failed_jwks_uri_fetches_are_remembered_briefly() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let key = ClientKey::es256();
    let jwks = JwksServer::start(key.jwks().to_string()).await;
    jwks.set(503, "{}".to_owned());
    let client_id = jwks_uri_client(&server, &jwks.url).await;
    let second_client = jwks_uri_client(&server, &jwks.url).await;

    let first = server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await;
    first.assert_oauth_error(
        401,
        "invalid_client",
        "the client's JWKS could not be fetched: jwks_uri answered HTTP 503",
    );
    assert_eq!(jwks.hits(), 1);

    // A flood of assertions within the window: answered from memory, for every client of the URI.
    for client in [&client_id, &second_client, &client_id, &second_client] {
        server
            .client_credentials(client, &key, &dpop, &[])
            .await
            .assert_oauth_error(
                401,
                "invalid_client",
                "the client's JWKS could not be fetched: jwks_uri answered HTTP 503",
            );
    }
    assert_eq!(
        jwks.hits(),
        1,
        "no outbound fetch while the failure is remembered"
    );

    // The jwks_uri recovers; until the window ends, the failure still stands.
    jwks.set(200, key.jwks().to_string());
    server.clock.advance(9);
    server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "not fetched again for 1 s");
    assert_eq!(jwks.hits(), 1);

    // After the window the recovered document is fetched once and used (and cached) again.
    server.clock.advance(1);
    assert_ok(
        &server
            .client_credentials(&client_id, &key, &dpop, &[])
            .await,
        "recovered jwks_uri",
    );
    assert_eq!(jwks.hits(), 2);
    assert_ok(
        &server
            .client_credentials(&client_id, &key, &dpop, &[])
            .await,
        "cached keys",
    );
    assert_eq!(jwks.hits(), 2);

    // A later failure (here: the unknown kid of a rotated key makes the server refetch) is
    // remembered again.
    jwks.set(500, "{}".to_owned());
    server.clock.advance(11);
    let rotated = ClientKey::with_kid(Algorithm::Es256, "rotated");
    for _ in 0..3 {
        server
            .client_credentials(&client_id, &rotated, &dpop, &[])
            .await
            .assert_oauth_error(
                401,
                "invalid_client",
                "the client's JWKS could not be fetched: jwks_uri answered HTTP 500",
            );
    }
    assert_eq!(jwks.hits(), 3);
    // The keys already fetched still serve the kid they have.
    assert_ok(
        &server
            .client_credentials(&client_id, &key, &dpop, &[])
            .await,
        "known kid from the earlier fetch",
    );
    assert_eq!(jwks.hits(), 3);
}

#[tokio::test]
async fn assertion_is_spent_even_when_its_proof_is_a_replay() {
    let (server, key, client_id, dpop) = setup().await;
    let used_proof = server.token_proof(&dpop);
    let first = key.assertion(&client_id, &server.issuer, server.now());
    assert_ok(
        &server
            .client_credentials_with(&first, &[&used_proof], &[])
            .await,
        "first request",
    );

    // A fresh assertion with the replayed proof is refused for the proof ...
    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    server
        .client_credentials_with(&assertion, &[&used_proof], &[])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof jti has already been used",
        );
    // ... and both jtis are recorded in one store call, so that assertion is spent as well.
    send(&server, &dpop, &assertion).await.assert_oauth_error(
        401,
        "invalid_client",
        "jti has already been used",
    );
    // A fresh assertion with a fresh proof works.
    let fresh = key.assertion(&client_id, &server.issuer, server.now());
    assert_ok(
        &send(&server, &dpop, &fresh).await,
        "fresh assertion and proof",
    );
}

#[tokio::test]
async fn client_ids_the_store_cannot_hold_are_unknown_clients() {
    let (server, key, _, dpop) = setup().await;
    for iss in [
        "nul\u{0}byte".to_owned(),
        "x".repeat(5000),
        "emoji-\u{1F600}".to_owned(),
        " ".to_owned(),
    ] {
        let assertion = key.assertion(&iss, &server.issuer, server.now());
        let answer = send(&server, &dpop, &assertion).await;
        assert_eq!(answer.status.as_u16(), 401, "iss {iss:?}: {}", answer.text);
        answer.assert_oauth_error(401, "invalid_client", "unknown client");
    }
}

#[tokio::test]
async fn a_key_rotated_under_the_same_kid_is_fetched_again() {
    let server = spawn().await;
    let dpop = ClientKey::es256();
    let old = ClientKey::with_kid(Algorithm::Es256, "same-kid");
    let jwks = JwksServer::start(old.jwks().to_string()).await;
    let client_id = jwks_uri_client(&server, &jwks.url).await;
    assert_ok(
        &server
            .client_credentials(&client_id, &old, &dpop, &[])
            .await,
        "first key",
    );
    assert_eq!(jwks.hits(), 1);

    // The client publishes a new key under the same kid.
    let new = ClientKey::with_kid(Algorithm::Es256, "same-kid");
    jwks.set(200, new.jwks().to_string());

    // Within 10 s of the last fetch the cached document is kept: the new signature fails.
    server.clock.advance(5);
    server
        .client_credentials(&client_id, &new, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "signature verification failed");
    assert_eq!(jwks.hits(), 1);

    // Later, the failed signature makes the server fetch the document again and accept it.
    server.clock.advance(6);
    assert_ok(
        &server
            .client_credentials(&client_id, &new, &dpop, &[])
            .await,
        "key rotated under the same kid",
    );
    assert_eq!(jwks.hits(), 2);
    // A signature that fails for another reason does not fetch again right away.
    server
        .client_credentials(&client_id, &old, &dpop, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "signature verification failed");
    assert_eq!(jwks.hits(), 2);
}

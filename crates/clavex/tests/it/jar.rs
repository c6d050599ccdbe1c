//! Signed request objects at PAR (JAR, RFC 9101; FAPI 2.0 Message Signing §5.3.1): what the
//! `fapi2-message-signing` plan pushes, and every rule a request object must pass, each refused
//! with `invalid_request_object`.

use clavex_jose::Algorithm;
use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::{Value, json};

const SCOPE: &str = "openid accounts";

/// The claims of a valid request object for `client`: every authorization parameter, plus
/// `iss`, `aud`, `client_id`, `exp`, `nbf`.
fn request_claims(server: &TestServer, client: &FapiClient, challenge: &str) -> Value {
    let now = server.now();
    json!({
        "iss": client.client_id,
        "aud": server.issuer,
        "client_id": client.client_id,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": clavex_jose::random_token(12),
        "response_type": "code",
        "redirect_uri": client.redirect_uri,
        "scope": SCOPE,
        "state": "state-from-request-object",
        "nonce": "nonce-from-request-object",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "max_age": 3600,
        "claims": {"id_token": {"email": null}},
    })
}

fn signed(client: &FapiClient, claims: &Value) -> String {
    client
        .key
        .sign(Some("oauth-authz-req+jwt"), None, claims.clone())
}

/// PAR with client authentication, `request` and `outer` form parameters.
async fn push(
    server: &TestServer,
    client: &FapiClient,
    request: &str,
    outer: &[(&str, &str)],
) -> Answer {
    let mut form: Vec<(&str, &str)> = vec![("request", request)];
    form.extend_from_slice(outer);
    server.par(client, &form, &[]).await
}

#[tokio::test]
async fn a_signed_request_object_drives_the_whole_flow_and_outer_parameters_are_ignored() {
    let server = spawn().await;
    server.create_user().await;
    let client = server
        .fapi_client(
            json!({"require_signed_request_object": true, "request_object_signing_alg": "ES256"}),
        )
        .await;
    let (verifier, challenge) = pkce();
    let request = signed(&client, &request_claims(&server, &client, &challenge));
    // Outer parameters that would be refused or would change the request are ignored (MS §5.3.1).
    let answer = push(
        &server,
        &client,
        &request,
        &[
            ("scope", "admin"),
            ("state", "outer-state"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
    let request_uri = answer.body["request_uri"].as_str().unwrap();

    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, request_uri)
        .await;
    assert_eq!(done.status.as_u16(), 303, "{}", done.text);
    assert!(
        done.location().starts_with(&client.redirect_uri),
        "{}",
        done.location()
    );
    assert_eq!(
        done.redirect_param("state").as_deref(),
        Some("state-from-request-object")
    );
    let code = done.redirect_param("code").unwrap();
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, id_token) = decode_unverified(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], json!("nonce-from-request-object"));
    assert_eq!(
        id_token["email"],
        json!("alice@example.com"),
        "the claims request came from the object"
    );
}

#[tokio::test]
async fn accepted_variants_of_a_request_object() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    let base = request_claims(&server, &client, &challenge);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = base.clone();
        change(&mut claims);
        claims
    };
    let now = server.now();
    let cases: Vec<(&str, String)> = vec![
        (
            "aud as an array naming the issuer",
            signed(
                &client,
                &with(&|c| c["aud"] = json!([server.issuer, "https://other.example"])),
            ),
        ),
        (
            "no iss",
            signed(
                &client,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
        ),
        ("typ JWT", client.key.sign(Some("JWT"), None, base.clone())),
        ("no typ", client.key.sign(None, None, base.clone())),
        (
            "mixed-case typ",
            client
                .key
                .sign(Some("OautH-auThZ-REQ+jWt"), None, base.clone()),
        ),
        (
            "nbf 10 s ahead",
            signed(&client, &with(&|c| c["nbf"] = json!(now + 10))),
        ),
        (
            "exactly 60 minutes of lifetime",
            signed(
                &client,
                &with(&|c| {
                    c["nbf"] = json!(now - 60);
                    c["exp"] = json!(now + 3540);
                }),
            ),
        ),
    ];
    for (what, request) in cases {
        let answer = push(&server, &client, &request, &[]).await;
        assert_eq!(answer.status.as_u16(), 201, "{what}: {}", answer.text);
    }
}

#[tokio::test]
async fn request_objects_that_break_a_rule_are_invalid_request_object() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let other = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    let base = request_claims(&server, &client, &challenge);
    let now = server.now();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = base.clone();
        change(&mut claims);
        signed(&client, &claims)
    };
    let tampered = {
        let good = signed(&client, &base);
        let (head, _) = good.rsplit_once('.').unwrap();
        format!("{head}.{}", b64(&[7u8; 64]))
    };
    let rsa = ClientKey::new(Algorithm::Ps256);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not a JWT",
            "eyJ.eyJ.sig".to_owned(),
            "not a valid signed JWT",
        ),
        (
            "signed by another client's key",
            other
                .key
                .sign(Some("oauth-authz-req+jwt"), None, base.clone()),
            "request object key",
        ),
        ("bad signature", tampered, "signature"),
        (
            "alg none",
            raw_jwt(&json!({"alg": "none"}), &base, b"sig"),
            "none",
        ),
        ("RS256", rs256_jwt(&rsa, &base), "RS256"),
        (
            "typ dpop+jwt",
            client.key.sign(Some("dpop+jwt"), None, base.clone()),
            "typ",
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "exp",
        ),
        (
            "no nbf",
            with(&|c| {
                c.as_object_mut().unwrap().remove("nbf");
            }),
            "nbf",
        ),
        (
            "expired",
            with(&|c| {
                c["exp"] = json!(now - 1);
                c["nbf"] = json!(now - 100);
            }),
            "expired",
        ),
        (
            "nbf 20 s ahead",
            with(&|c| c["nbf"] = json!(now + 20)),
            "not valid yet",
        ),
        (
            "nbf 61 minutes ago",
            with(&|c| {
                c["nbf"] = json!(now - 3660);
                c["exp"] = json!(now + 60);
            }),
            "60 minutes",
        ),
        (
            "lifetime over 60 minutes",
            with(&|c| c["exp"] = json!(now + 3601)),
            "60 minutes",
        ),
        (
            "exp as a string",
            with(&|c| c["exp"] = json!("tomorrow")),
            "NumericDate",
        ),
        (
            "aud another server",
            with(&|c| c["aud"] = json!("https://other.example")),
            "aud",
        ),
        (
            "aud the token endpoint",
            with(&|c| c["aud"] = json!(server.token_endpoint)),
            "aud",
        ),
        (
            "no aud",
            with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            "aud",
        ),
        (
            "no client_id",
            with(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
            }),
            "client_id",
        ),
        (
            "another client_id",
            with(&|c| c["client_id"] = json!(other.client_id)),
            "client_id",
        ),
        (
            "iss another client",
            with(&|c| c["iss"] = json!(other.client_id)),
            "iss",
        ),
        (
            "a nested request_uri",
            with(&|c| c["request_uri"] = json!("urn:ietf:params:oauth:request_uri:x")),
            "request_uri",
        ),
        (
            "a nested request",
            with(&|c| c["request"] = json!("eyJ.eyJ.sig")),
            "request",
        ),
    ];
    for (what, request, fragment) in cases {
        let answer = push(&server, &client, &request, &[]).await;
        assert_eq!(
            (answer.status.as_u16(), answer.error()),
            (400, "invalid_request_object"),
            "{what}: {}",
            answer.text
        );
        assert!(
            answer.description().contains(fragment),
            "{what}: {}",
            answer.text
        );
    }

    // The rules of the authorization request still apply to what the object carries.
    for (what, request, code, fragment) in [
        (
            "plain PKCE",
            with(&|c| c["code_challenge_method"] = json!("plain")),
            "invalid_request",
            "S256",
        ),
        (
            "no code_challenge",
            with(&|c| {
                c.as_object_mut().unwrap().remove("code_challenge");
            }),
            "invalid_request",
            "code_challenge",
        ),
        (
            "no redirect_uri",
            with(&|c| {
                c.as_object_mut().unwrap().remove("redirect_uri");
            }),
            "invalid_request",
            "redirect_uri",
        ),
        (
            "response_type code id_token",
            with(&|c| c["response_type"] = json!("code id_token")),
            "unsupported_response_type",
            "code",
        ),
    ] {
        let answer = push(&server, &client, &request, &[]).await;
        assert_eq!(answer.error(), code, "{what}: {}", answer.text);
        answer.assert_error(400, code, fragment);
    }
}

#[tokio::test]
async fn a_client_that_requires_signed_request_objects_cannot_push_plain_parameters() {
    let server = spawn().await;
    let client = server
        .fapi_client(json!({"require_signed_request_object": true}))
        .await;
    let (_, challenge) = pkce();
    let answer = server
        .par(
            &client,
            &TestServer::authorization_params(&client, SCOPE, &challenge),
            &[],
        )
        .await;
    answer.assert_error(400, "invalid_request", "signed request object");

    // A registered request_object_signing_alg is the only one accepted.
    let pinned = server
        .fapi_client(json!({"request_object_signing_alg": "PS256"}))
        .await;
    let request = signed(&pinned, &request_claims(&server, &pinned, &challenge));
    push(&server, &pinned, &request, &[]).await.assert_error(
        400,
        "invalid_request_object",
        "request_object_signing_alg PS256",
    );
}

#[tokio::test]
async fn registration_checks_the_jar_metadata_and_discovery_advertises_it() {
    let server = spawn().await;
    for (body, fragment) in [
        (
            json!({"require_signed_request_object": "yes"}),
            "require_signed_request_object",
        ),
        (json!({"request_object_signing_alg": "RS256"}), "RS256"),
        (json!({"request_object_signing_alg": "none"}), "none"),
    ] {
        let mut full = json!({
            "client_name": "x", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": ClientKey::es256().jwks(),
        });
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let answer = server
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{ORG}/clients"),
                ORG_TOKEN,
                Some(full),
            )
            .await;
        answer.assert_error(400, "invalid_client_metadata", fragment);
    }
    let client = server
        .register_client(json!({
            "client_name": "jar", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": ClientKey::es256().jwks(), "require_signed_request_object": true,
            "request_object_signing_alg": "ES256",
        }))
        .await;
    assert_eq!(client["require_signed_request_object"], json!(true));
    assert_eq!(client["request_object_signing_alg"], json!("ES256"));

    let doc = server
        .get(&format!("/{ORG}/.well-known/openid-configuration"))
        .await
        .body;
    let algs = doc["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .clone();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("PS256")));
    assert!(!algs.contains(&json!("RS256")) && !algs.contains(&json!("none")));
}

#[tokio::test]
async fn dpop_jkt_inside_a_request_object_binds_the_code() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let (verifier, challenge) = pkce();
    let bound = ClientKey::es256();
    let mut claims = request_claims(&server, &client, &challenge);
    claims["dpop_jkt"] = json!(bound.thumbprint());
    let answer = push(&server, &client, &signed(&client, &claims), &[]).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
    let done = server
        .login_and_approve(
            &Browser::new(),
            &client.client_id,
            answer.body["request_uri"].as_str().unwrap(),
        )
        .await;
    let code = done.redirect_param("code").expect("code");
    server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "bound");
    let tokens = server.redeem_code(&client, &code, &verifier, &bound).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

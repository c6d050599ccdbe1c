//! Admin API: FAPI 2.0 client registration, reading, updating and deleting, and every refusal.

use clavex_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

const CLIENTS: &str = "/api/v1/organizations/acme/clients";

/// The exact body of the FAPI setup page.
fn setup_page_body() -> Value {
    json!({"client_name": "PSD2 TPP Client", "redirect_uris": ["https://tpp.example.com/callback"], "grant_types": ["authorization_code", "refresh_token", "client_credentials"], "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://tpp.example.com/.well-known/jwks.json", "require_pushed_authorization_requests": true, "require_dpop": true, "authorization_signed_response_alg": "ES256"})
}

/// The setup page body with members replaced (`null` removes the member).
fn setup_with(changes: Value) -> Value {
    let mut body = setup_page_body();
    let obj = body.as_object_mut().unwrap();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    body
}

/// The setup page body with an inline JWKS instead of `jwks_uri`.
fn with_inline_jwks(jwks: Value) -> Value {
    setup_with(json!({"jwks_uri": null, "jwks": jwks}))
}

/// RFC 7515 A.3's public P-256 key, with `crv` and `alg` replaceable.
fn ec_jwk(crv: &str, alg: Option<&str>) -> Value {
    let mut jwk = json!({"kty": "EC", "crv": crv, "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRjJr4wfpGWwWvE4kwmi1VHdXpGx1yZaZBgoTv4"});
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

async fn post(server: &TestServer, body: Value) -> Answer {
    server
        .admin(Method::POST, CLIENTS, ORG_TOKEN, Some(body))
        .await
}

#[tokio::test]
async fn setup_page_body_registers_a_fapi_client() {
    let server = spawn().await;
    let answer = post(&server, setup_page_body()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let md = &answer.body;
    let client_id = md["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("clavex_fapi_"), "{client_id}");
    assert!(client_id.len() > "clavex_fapi_".len() + 16, "{client_id}");
    assert_eq!(
        answer.headers["location"],
        format!("/api/v1/organizations/acme/clients/{client_id}").as_str()
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(md["client_name"], "PSD2 TPP Client");
    assert_eq!(
        md["redirect_uris"],
        json!(["https://tpp.example.com/callback"])
    );
    assert_eq!(
        md["grant_types"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(md["response_types"], json!(["code"]));
    assert_eq!(md["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(
        md["jwks_uri"],
        "https://tpp.example.com/.well-known/jwks.json"
    );
    assert!(md.get("jwks").is_none(), "{md}");
    assert_eq!(md["require_pushed_authorization_requests"], true);
    assert_eq!(md["require_dpop"], true);
    assert_eq!(md["dpop_bound_access_tokens"], true);
    assert_eq!(md["authorization_signed_response_alg"], "ES256");
    let issued_at = md["client_id_issued_at"].as_i64().unwrap();
    assert!((issued_at - server.now()).abs() <= 1, "{issued_at}");

    // What GET returns is what was stored, and the same as the 201 body.
    let got = server
        .admin(
            Method::GET,
            &format!("{CLIENTS}/{client_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body, answer.body);

    // The Location header leads to the client.
    let location = answer.headers["location"].to_str().unwrap();
    let via_location = server.admin(Method::GET, location, ORG_TOKEN, None).await;
    assert_eq!(via_location.status, StatusCode::OK);
    assert_eq!(via_location.body["client_id"], client_id);
}

#[tokio::test]
async fn inline_jwks_and_the_standard_dpop_name_are_accepted() {
    let server = spawn().await;
    let key = ClientKey::es256();
    let answer = post(&server, with_inline_jwks(key.jwks())).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["jwks"], key.jwks());
    assert!(answer.body.get("jwks_uri").is_none());

    // RFC 9449 §5.2's name instead of the setup page's `require_dpop`.
    let answer = post(
        &server,
        setup_with(json!({"require_dpop": null, "dpop_bound_access_tokens": true})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["dpop_bound_access_tokens"], true);
    assert_eq!(answer.body["require_dpop"], true);

    // A plain-http redirect URI on loopback (native apps) is fine.
    let answer = post(
        &server,
        setup_with(json!({"redirect_uris": ["http://127.0.0.1:9000/cb"]})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(
        answer.body["redirect_uris"],
        json!(["http://127.0.0.1:9000/cb"])
    );
}

#[tokio::test]
async fn an_admin_chosen_client_id_is_kept_and_must_be_unique() {
    let server = spawn().await;
    let answer = post(&server, setup_with(json!({"client_id": "tpp-42"}))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["client_id"], "tpp-42");
    let again = post(&server, setup_with(json!({"client_id": "tpp-42"}))).await;
    again.assert_error(409, "conflict", "tpp-42");
    let bad = post(&server, setup_with(json!({"client_id": "has space"}))).await;
    bad.assert_error(400, "invalid_client_metadata", "client_id must be");
}

#[tokio::test]
async fn list_patch_put_and_delete() {
    let server = spawn().await;
    let first = post(&server, setup_page_body()).await.body;
    let id = first["client_id"].as_str().unwrap().to_owned();
    let key = ClientKey::es256();
    let second = post(&server, with_inline_jwks(key.jwks())).await.body;
    let one = format!("{CLIENTS}/{id}");

    let list = server.admin(Method::GET, CLIENTS, ORG_TOKEN, None).await;
    assert_eq!(list.status, StatusCode::OK);
    let ids: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{}", list.text);
    assert!(ids.contains(&id.as_str()));
    assert!(ids.contains(&second["client_id"].as_str().unwrap()));

    // PATCH changes one member and keeps the rest.
    let patched = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"client_name": "Renamed TPP"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let mut expected = first.clone();
    expected["client_name"] = json!("Renamed TPP");
    assert_eq!(patched.body, expected);
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    assert_eq!(got.body, expected);

    // PATCH from jwks_uri to jwks: the new key source replaces the old one.
    let patched = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"jwks": key.jwks()})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["jwks"], key.jwks());
    assert!(patched.body.get("jwks_uri").is_none(), "{}", patched.text);
    assert_eq!(patched.body["client_name"], "Renamed TPP");
    assert_eq!(
        patched.body["client_id_issued_at"],
        first["client_id_issued_at"]
    );

    // ... and back.
    let patched = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"jwks_uri": "https://tpp.example.com/keys"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["jwks_uri"], "https://tpp.example.com/keys");
    assert!(patched.body.get("jwks").is_none());

    // A PATCH that breaks a rule is refused and changes nothing.
    let refused = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"require_dpop": false})),
        )
        .await;
    refused.assert_error(400, "invalid_client_metadata", "DPoP");
    let refused = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"client_id": "another"})),
        )
        .await;
    refused.assert_error(
        400,
        "invalid_client_metadata",
        "client_id cannot be changed",
    );
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    assert_eq!(got.body["jwks_uri"], "https://tpp.example.com/keys");

    // PUT replaces the whole document: what is not sent is gone.
    let replacement = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(),
    });
    let put = server
        .admin(Method::PUT, &one, ORG_TOKEN, Some(replacement))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["client_id"], id.as_str());
    assert!(put.body.get("client_name").is_none(), "{}", put.text);
    assert!(put.body.get("authorization_signed_response_alg").is_none());
    assert_eq!(put.body["redirect_uris"], json!([]));
    assert_eq!(put.body["response_types"], json!([]));
    assert_eq!(put.body["grant_types"], json!(["client_credentials"]));
    assert_eq!(put.body["dpop_bound_access_tokens"], true);
    assert_eq!(
        put.body["client_id_issued_at"],
        first["client_id_issued_at"]
    );
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    assert_eq!(got.body, put.body);

    // PUT is validated like a registration.
    let bad_put = server
        .admin(
            Method::PUT,
            &one,
            ORG_TOKEN,
            Some(json!({"grant_types": ["client_credentials"], "jwks": key.jwks()})),
        )
        .await;
    bad_put.assert_error(
        400,
        "invalid_client_metadata",
        "token_endpoint_auth_method is required",
    );

    // The replaced client works at the token endpoint with its new keys.
    let dpop = ClientKey::es256();
    let token = server.client_credentials(&id, &key, &dpop, &[]).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);

    // DELETE, then it is gone: for the Admin API and for the token endpoint.
    let deleted = server.admin(Method::DELETE, &one, ORG_TOKEN, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(deleted.text.is_empty());
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    got.assert_error(404, "not_found", &id);
    let again = server.admin(Method::DELETE, &one, ORG_TOKEN, None).await;
    again.assert_error(404, "not_found", &id);
    let patch_gone = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"client_name": "x"})),
        )
        .await;
    patch_gone.assert_error(404, "not_found", &id);
    let token = server.client_credentials(&id, &key, &dpop, &[]).await;
    token.assert_error(401, "invalid_client", "unknown client");
    let list = server.admin(Method::GET, CLIENTS, ORG_TOKEN, None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

/// Posts `body` and asserts a 400 with `code` and a description containing `fragment`.
async fn refused(server: &TestServer, body: Value, code: &str, fragment: &str) {
    let answer = post(server, body.clone()).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{body} should be refused; got {}",
        answer.text
    );
    assert_eq!(answer.error(), code, "{body}: {}", answer.text);
    assert!(
        answer.description().contains(fragment),
        "{body}: description {:?} should contain {fragment:?}",
        answer.description()
    );
}

const META: &str = "invalid_client_metadata";

#[tokio::test]
async fn authentication_methods_other_than_private_key_jwt_are_refused() {
    let server = spawn().await;
    for method in ["tls_client_auth", "self_signed_tls_client_auth"] {
        refused(
            &server,
            setup_with(json!({"token_endpoint_auth_method": method})),
            META,
            &format!("token_endpoint_auth_method {method} (mTLS) is not yet supported by Clavex; use private_key_jwt"),
        )
        .await;
    }
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        refused(
            &server,
            setup_with(json!({"token_endpoint_auth_method": method})),
            META,
            &format!("token_endpoint_auth_method {method} is not allowed under FAPI 2.0 (shared secrets); use private_key_jwt"),
        )
        .await;
    }
    refused(
        &server,
        setup_with(json!({"token_endpoint_auth_method": "none"})),
        META,
        "token_endpoint_auth_method none (public client) is not allowed under FAPI 2.0",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"token_endpoint_auth_method": null})),
        META,
        "token_endpoint_auth_method is required; FAPI 2.0 clients use \"private_key_jwt\"",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"token_endpoint_auth_method": "magic"})),
        META,
        "unknown token_endpoint_auth_method magic",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"client_secret": "s3cret-s3cret"})),
        META,
        "client_secret cannot be set: FAPI 2.0 clients authenticate with private_key_jwt",
    )
    .await;
}

#[tokio::test]
async fn bad_redirect_uris_are_refused() {
    let server = spawn().await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": ["http://tpp.example.com/callback"]})),
        "invalid_redirect_uri",
        "redirect URI http://tpp.example.com/callback must use https (plain http is allowed only on loopback)",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": ["https://tpp.example.com/callback#frag"]})),
        "invalid_redirect_uri",
        "redirect URI https://tpp.example.com/callback#frag must not contain a fragment",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": ["https://tpp.example.com/callback#"]})),
        "invalid_redirect_uri",
        "must not contain a fragment",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": ["/callback"]})),
        "invalid_redirect_uri",
        "is not an absolute URI",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": []})),
        "invalid_redirect_uri",
        "redirect_uris is required for the authorization_code grant type",
    )
    .await;
}

#[tokio::test]
async fn key_sources_are_checked() {
    let server = spawn().await;
    let key = ClientKey::es256();
    refused(
        &server,
        setup_with(json!({"jwks": key.jwks()})),
        META,
        "send either jwks or jwks_uri, not both",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"jwks_uri": null})),
        META,
        "private_key_jwt needs the client's public keys: send jwks or jwks_uri",
    )
    .await;

    // A private key member: the client leaked its private key.
    let mut private = ec_jwk("P-256", None);
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    refused(
        &server,
        with_inline_jwks(json!({"keys": [private]})),
        META,
        "jwks: JWK set key 0: JWK contains private key member 'd'",
    )
    .await;

    // RSA with a 1024-bit modulus.
    let mut n = vec![0xC3u8; 128];
    n[127] = 0x01;
    let weak_rsa = json!({"kty": "RSA", "n": b64(&n), "e": "AQAB"});
    refused(
        &server,
        with_inline_jwks(json!({"keys": [weak_rsa]})),
        META,
        "RSA key is 1024 bits; at least 2048 are required",
    )
    .await;

    // An EC key whose alg does not fit it, and one on the wrong curve.
    refused(
        &server,
        with_inline_jwks(json!({"keys": [ec_jwk("P-256", Some("PS256"))]})),
        META,
        "JWK alg PS256 does not fit kty EC",
    )
    .await;
    refused(
        &server,
        with_inline_jwks(json!({"keys": [ec_jwk("P-384", None)]})),
        META,
        "unsupported EC curve P-384: only P-256 is allowed",
    )
    .await;
    refused(
        &server,
        with_inline_jwks(json!({"keys": [ec_jwk("P-384", Some("ES256"))]})),
        META,
        "EC key curve P-384 does not match alg ES256",
    )
    .await;
    refused(
        &server,
        with_inline_jwks(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
        META,
        "JWK contains private key member 'k'",
    )
    .await;
    refused(
        &server,
        with_inline_jwks(json!({"keys": []})),
        META,
        "'keys' is empty",
    )
    .await;
    refused(
        &server,
        with_inline_jwks(json!([key.key.public_jwk()])),
        META,
        "must be a JSON object with a 'keys' array",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"jwks_uri": "not a url"})),
        META,
        "jwks_uri must be an absolute URL",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"jwks_uri": "ftp://tpp.example.com/jwks"})),
        META,
        "jwks_uri must be an https URL",
    )
    .await;
}

#[tokio::test]
async fn algorithms_grants_response_types_and_fapi_switches_are_checked() {
    let server = spawn().await;
    for alg in ["RS256", "none", "HS256"] {
        refused(
            &server,
            setup_with(json!({"authorization_signed_response_alg": alg})),
            META,
            &format!("authorization_signed_response_alg: algorithm {alg} is not allowed; use one of PS256, ES256, EdDSA"),
        )
        .await;
    }
    refused(
        &server,
        setup_with(json!({"token_endpoint_auth_signing_alg": "RS256"})),
        META,
        "token_endpoint_auth_signing_alg: algorithm RS256 is not allowed",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"id_token_signed_response_alg": "none"})),
        META,
        "id_token_signed_response_alg: algorithm none is not allowed",
    )
    .await;
    for grant in ["implicit", "password"] {
        refused(
            &server,
            setup_with(json!({"grant_types": ["authorization_code", grant]})),
            META,
            &format!("grant type {grant} is not allowed; use authorization_code, refresh_token or client_credentials"),
        )
        .await;
    }
    refused(
        &server,
        setup_with(json!({"grant_types": []})),
        META,
        "grant_types must not be empty",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"response_types": ["token"]})),
        META,
        "response type token is not allowed; FAPI 2.0 allows only \"code\"",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"response_types": ["code id_token"]})),
        META,
        "response type code id_token is not allowed",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"require_dpop": false})),
        META,
        "DPoP binding cannot be switched off: FAPI 2.0 requires sender-constrained access tokens",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"require_dpop": null, "dpop_bound_access_tokens": false})),
        META,
        "DPoP binding cannot be switched off",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"require_pushed_authorization_requests": false})),
        META,
        "require_pushed_authorization_requests cannot be false: FAPI 2.0 requires PAR",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"require_dpop": "yes"})),
        META,
        "require_dpop must be a boolean",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"redirect_uris": "https://tpp.example.com/callback"})),
        META,
        "redirect_uris must be an array of strings",
    )
    .await;
    refused(
        &server,
        setup_with(json!({"scope": "accounts \"quoted\""})),
        META,
        "scope contains characters outside RFC 6749 §3.3",
    )
    .await;
    // Nothing was stored by any refusal.
    let list = server.admin(Method::GET, CLIENTS, ORG_TOKEN, None).await;
    assert_eq!(list.body, json!([]));
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_are_refused() {
    let server = spawn().await;
    let answer = server
        .admin_raw(
            Method::POST,
            CLIENTS,
            Some(ORG_TOKEN),
            Some(("application/json", "{\"client_name\": ")),
        )
        .await;
    answer.assert_error(400, "invalid_request", "body is not valid JSON");
    let answer = server
        .admin_raw(
            Method::POST,
            CLIENTS,
            Some(ORG_TOKEN),
            Some(("application/x-www-form-urlencoded", "client_name=x")),
        )
        .await;
    answer.assert_error(400, "invalid_request", "body is not valid JSON");
    for body in [json!([setup_page_body()]), json!("client"), json!(42)] {
        refused(&server, body, META, "client metadata must be a JSON object").await;
    }
    // Bodies are bounded (256 KiB).
    let huge = format!("{{\"client_name\": \"{}\"}}", "x".repeat(300 * 1024));
    let answer = server
        .admin_raw(
            Method::POST,
            CLIENTS,
            Some(ORG_TOKEN),
            Some(("application/json", &huge)),
        )
        .await;
    answer.assert_error(
        400,
        "invalid_request",
        "request body is larger than 262144 bytes",
    );
    // An empty body is an empty object: no auth method.
    let answer = server
        .admin_raw(Method::POST, CLIENTS, Some(ORG_TOKEN), None)
        .await;
    answer.assert_error(400, META, "token_endpoint_auth_method is required");
}

#[tokio::test]
async fn clients_of_an_unknown_organization_are_not_found() {
    let server = spawn().await;
    let answer = server
        .admin(
            Method::POST,
            "/api/v1/organizations/nowhere/clients",
            SERVER_TOKEN,
            Some(setup_page_body()),
        )
        .await;
    answer.assert_error(404, "not_found", "organization nowhere");
    let answer = server
        .admin(
            Method::GET,
            "/api/v1/organizations/nowhere/clients",
            SERVER_TOKEN,
            None,
        )
        .await;
    answer.assert_error(404, "not_found", "organization nowhere");
    let answer = server
        .admin(Method::GET, &format!("{CLIENTS}/nope"), ORG_TOKEN, None)
        .await;
    answer.assert_error(404, "not_found", "client nope");
}

//! Signed authorization responses (JARM, `response_mode=jwt` / `query.jwt`; FAPI 2.0 Message
//! Signing §5.4): the response is one `response` parameter, a JWT signed by the organization with
//! `iss`, `aud`, a short `exp` and the response parameters, for successes and for errors.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::{Value, json};

const SCOPE: &str = "openid accounts";

/// Pushes the usual parameters with `response_mode` (and `extra`); returns (request_uri, verifier).
async fn push(
    server: &TestServer,
    client: &FapiClient,
    response_mode: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut params = TestServer::authorization_params(client, SCOPE, &challenge);
    params.push(("response_mode", response_mode));
    params.extend_from_slice(extra);
    let answer = server.par(client, &params, &[]).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
    (
        answer.body["request_uri"].as_str().unwrap().to_owned(),
        verifier,
    )
}

/// The redirect carries only `response` (besides the redirect URI's own query); returns its
/// verified claims and header.
async fn jarm_response(server: &TestServer, client: &FapiClient, done: &Answer) -> (Value, Value) {
    assert_eq!(done.status.as_u16(), 303, "{}", done.text);
    let location = done.location();
    assert!(location.starts_with(&client.redirect_uri), "{location}");
    let names: Vec<String> = done.redirect_params().into_iter().map(|(k, _)| k).collect();
    // The registered redirect URI's own query parameters (`?a=b&c=d`), which stay.
    let own: Vec<String> = client
        .redirect_uri
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|p| p.split('=').next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let added: Vec<&String> = names.iter().filter(|n| !own.contains(n)).collect();
    assert_eq!(
        added,
        vec!["response"],
        "only the response parameter: {location}"
    );
    let response = done.redirect_param("response").unwrap();
    let jwks = server.get(&format!("/{ORG}/jwks")).await.body;
    let claims = verify_with_jwks(&response, &jwks).expect("signed by a published key");
    let (header, _) = decode_unverified(&response);
    assert_eq!(claims["iss"], json!(server.issuer));
    assert_eq!(claims["aud"], json!(client.client_id));
    let lifetime = claims["exp"].as_i64().unwrap() - server.now();
    assert!((10..=600).contains(&lifetime), "exp {lifetime} s ahead");
    (claims, header)
}

#[tokio::test]
async fn response_mode_jwt_returns_a_signed_response_whose_code_works() {
    let server = spawn().await;
    server.create_user().await;
    let mut client = server.fapi_client(json!({})).await;
    // The registered redirect URI's own query is kept (RFC 6749 §3.1.2).
    client.redirect_uri = REDIRECT_URI_WITH_QUERY.to_owned();
    let (request_uri, verifier) = push(&server, &client, "jwt", &[]).await;
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let (claims, header) = jarm_response(&server, &client, &done).await;
    assert_eq!(header["alg"], json!("ES256"), "ES256 by default");
    assert_eq!(claims["state"], json!("state-123"));
    assert!(claims.get("error").is_none());
    assert_eq!(done.redirect_param("dummy1").as_deref(), Some("lorem"));
    let code = claims["code"].as_str().unwrap();
    let tokens = server
        .redeem_code(&client, code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

#[tokio::test]
async fn query_jwt_is_signed_with_the_clients_registered_algorithm() {
    let server = spawn().await;
    server.create_user().await;
    let client = server
        .fapi_client(json!({"authorization_signed_response_alg": "PS256"}))
        .await;
    let (request_uri, _) = push(&server, &client, "query.jwt", &[]).await;
    let done = server
        .login_and_approve(&Browser::new(), &client.client_id, &request_uri)
        .await;
    let (claims, header) = jarm_response(&server, &client, &done).await;
    assert_eq!(header["alg"], json!("PS256"));
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(claims["code"].as_str().is_some());
}

#[tokio::test]
async fn errors_are_signed_responses_too() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;

    // The user denies.
    let (request_uri, _) = push(&server, &client, "jwt", &[]).await;
    let browser = Browser::new();
    let page = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let page = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    let done = server.submit_consent(&browser, &page, false).await;
    let (claims, _) = jarm_response(&server, &client, &done).await;
    assert_eq!(claims["error"], json!("access_denied"));
    assert_eq!(claims["state"], json!("state-123"));
    assert!(claims.get("code").is_none());

    // prompt=none without a session.
    let (request_uri, _) = push(&server, &client, "jwt", &[("prompt", "none")]).await;
    let done = Browser::new()
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let (claims, _) = jarm_response(&server, &client, &done).await;
    assert_eq!(claims["error"], json!("login_required"));

    // A spent request_uri.
    let (request_uri, _) = push(&server, &client, "jwt", &[]).await;
    let browser = Browser::new();
    let first = server
        .login_and_approve(&browser, &client.client_id, &request_uri)
        .await;
    jarm_response(&server, &client, &first).await;
    let again = browser
        .get(&server.authorize_url(&client.client_id, &request_uri))
        .await;
    let (claims, _) = jarm_response(&server, &client, &again).await;
    assert_eq!(claims["error"], json!("invalid_request_uri"));
}

#[tokio::test]
async fn unsupported_response_modes_are_refused_at_par_and_discovery_lists_jarm() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    for mode in [
        "fragment.jwt",
        "form_post.jwt",
        "form_post",
        "fragment",
        "JWT",
    ] {
        let mut params = TestServer::authorization_params(&client, SCOPE, &challenge);
        params.push(("response_mode", mode));
        server.par(&client, &params, &[]).await.assert_error(
            400,
            "invalid_request",
            "response_mode",
        );
    }
    let doc = server
        .get(&format!("/{ORG}/.well-known/openid-configuration"))
        .await
        .body;
    assert_eq!(
        doc["response_modes_supported"],
        json!(["query", "jwt", "query.jwt"])
    );
    let algs = doc["authorization_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .clone();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("PS256")));
    assert!(!algs.contains(&json!("RS256")));
}

#[tokio::test]
async fn an_unpushed_request_asking_for_jarm_gets_its_error_as_jarm() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    let mut url = url::Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", "unpushed-state")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("response_mode", "jwt");
    let done = Browser::new().get(url.as_str()).await;
    let (claims, _) = jarm_response(&server, &client, &done).await;
    assert_eq!(claims["error"], json!("invalid_request"));
    assert_eq!(claims["state"], json!("unpushed-state"));
    assert!(
        claims["error_description"]
            .as_str()
            .unwrap()
            .contains("PAR")
    );
}

//! DPoP server nonces (RFC 9449 §8): switched on per organization, stateless, accepted by every node.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

async fn nonce_server() -> TestServer {
    let server = spawn().await;
    let patched = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/organizations/{ORG}"),
            ORG_TOKEN,
            Some(json!({"dpop_nonce_required": true})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    server
}

fn nonce_of(answer: &Answer) -> String {
    let values: Vec<_> = answer.headers.get_all("dpop-nonce").iter().collect();
    assert_eq!(
        values.len(),
        1,
        "exactly one DPoP-Nonce header: {:?}",
        answer.headers
    );
    let nonce = values[0].to_str().unwrap().to_owned();
    // NQCHAR = %x21 / %x23-5B / %x5D-7E
    assert!(
        !nonce.is_empty()
            && nonce
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    );
    nonce
}

fn assertion_form(assertion: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ]
}

#[tokio::test]
async fn token_endpoint_asks_for_a_nonce_and_accepts_the_retry_with_the_same_assertion() {
    let server = nonce_server().await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let assertion = key.assertion(&client_id, &server.issuer, server.now());

    let first = server
        .token_request(
            &assertion_form(&assertion),
            &[&dpop.dpop_proof("POST", &server.token_endpoint, server.now())],
        )
        .await;
    first.assert_error(400, "use_dpop_nonce", "nonce");
    let nonce = nonce_of(&first);

    let mut claims = dpop.dpop_claims("POST", &server.token_endpoint, server.now());
    claims["nonce"] = json!(nonce);
    let retry = server
        .token_request(&assertion_form(&assertion), &[&dpop.dpop_with(claims)])
        .await;
    assert_eq!(retry.status.as_u16(), 200, "{}", retry.text);
    nonce_of(&retry);
}

#[tokio::test]
async fn a_request_without_any_proof_is_invalid_request_not_use_dpop_nonce() {
    let server = nonce_server().await;
    let key = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let assertion = key.assertion(&client_id, &server.issuer, server.now());
    let answer = server.token_request(&assertion_form(&assertion), &[]).await;
    answer.assert_error(400, "invalid_request", "DPoP proof is required");
}

#[tokio::test]
async fn stale_foreign_and_forged_nonces_get_a_fresh_one() {
    let server = nonce_server().await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let probe = server
        .token_request(
            &assertion_form(&key.assertion(&client_id, &server.issuer, server.now())),
            &[&dpop.dpop_proof("POST", &server.token_endpoint, server.now())],
        )
        .await;
    let nonce = nonce_of(&probe);

    // Two windows later the nonce is stale.
    server.clock.advance(121);
    for bad in [nonce.as_str(), "forged-nonce", ""] {
        let mut claims = dpop.dpop_claims("POST", &server.token_endpoint, server.now());
        claims["nonce"] = json!(bad);
        let answer = server
            .token_request(
                &assertion_form(&key.assertion(&client_id, &server.issuer, server.now())),
                &[&dpop.dpop_with(claims)],
            )
            .await;
        answer.assert_error(400, "use_dpop_nonce", "");
        assert_ne!(nonce_of(&answer), nonce);
    }
}

#[tokio::test]
async fn another_node_accepts_the_nonce_and_par_requires_it_too() {
    let server = nonce_server().await;
    let other = spawn_with(SpawnOptions {
        store: Some(server.store.clone()),
        ..Default::default()
    })
    .await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let probe = server
        .token_request(
            &assertion_form(&key.assertion(&client_id, &server.issuer, server.now())),
            &[&dpop.dpop_proof("POST", &server.token_endpoint, server.now())],
        )
        .await;
    let nonce = nonce_of(&probe);
    // The second node has its own issuer URL (another port), so its proofs name its endpoint.
    let mut claims = dpop.dpop_claims("POST", &other.token_endpoint, other.now());
    claims["nonce"] = json!(nonce);
    let on_other = other
        .token_request(
            &assertion_form(&key.assertion(&client_id, &other.issuer, other.now())),
            &[&dpop.dpop_with(claims)],
        )
        .await;
    // The other node reads the setting from the shared store.
    assert_eq!(on_other.status.as_u16(), 200, "{}", on_other.text);

    // PAR with a proof but no nonce.
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    let params = TestServer::authorization_params(&client, "openid accounts", &challenge);
    let par = server
        .par(
            &client,
            &params,
            &[&dpop.dpop_proof("POST", &server.par_endpoint(), server.now())],
        )
        .await;
    par.assert_error(400, "use_dpop_nonce", "");
    let mut claims = dpop.dpop_claims("POST", &server.par_endpoint(), server.now());
    claims["nonce"] = json!(nonce_of(&par));
    let par = server
        .par(&client, &params, &[&dpop.dpop_with(claims)])
        .await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    nonce_of(&par);
}

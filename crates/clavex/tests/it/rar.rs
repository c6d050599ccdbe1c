//! Rich Authorization Requests (RFC 9396 `authorization_details`): checked at PAR against the
//! organization's types, shown on the consent page, approved every time, and carried into the
//! token response, the access token, refreshed tokens and introspection.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::{Value, json};

const SCOPE: &str = "openid payments";

fn payment() -> Value {
    json!([{
        "type": "payment_initiation",
        "actions": ["initiate", "status"],
        "locations": ["https://bank.example/payments"],
        "instructedAmount": {"currency": "EUR", "amount": "123.50"},
        "creditorName": "Merchant A",
        "creditorAccount": {"iban": "DE02100100109307118603"},
    }])
}

async fn server_with_payments() -> TestServer {
    let server = spawn().await;
    server
        .patch_org(json!({"scopes": ["accounts", "payments"]}))
        .await;
    server.create_user().await;
    server
}

/// Pushes the usual parameters plus `authorization_details` (and `extra`).
async fn push(
    server: &TestServer,
    client: &FapiClient,
    details: &str,
    extra: &[(&str, &str)],
) -> (Answer, String) {
    let (verifier, challenge) = pkce();
    let mut params = TestServer::authorization_params(client, SCOPE, &challenge);
    params.push(("authorization_details", details));
    params.extend_from_slice(extra);
    (server.par(client, &params, &[]).await, verifier)
}

#[tokio::test]
async fn approved_details_reach_the_tokens_introspection_and_refresh() {
    let server = server_with_payments().await;
    let client = server.fapi_client(json!({})).await;
    let details = payment();
    let (par, verifier) = push(&server, &client, &details.to_string(), &[]).await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let request_uri = par.body["request_uri"].as_str().unwrap();

    // The consent page shows what is asked for.
    let browser = Browser::new();
    let page = browser
        .get(&server.authorize_url(&client.client_id, request_uri))
        .await;
    let page = server
        .submit_login(&browser, &page, USERNAME, PASSWORD, false)
        .await;
    assert!(page.is_consent_page(), "{}", page.text);
    assert!(
        page.text.contains("data-type=\"payment_initiation\""),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("123.50") && page.text.contains("Merchant A"),
        "{}",
        page.text
    );
    let done = server.submit_consent(&browser, &page, true).await;
    let code = done.redirect_param("code").expect("code");

    let dpop = ClientKey::es256();
    let tokens = server.redeem_code(&client, &code, &verifier, &dpop).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert_eq!(
        tokens.body["authorization_details"], details,
        "token response (RFC 9396 §7)"
    );
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let (_, claims) = decode_unverified(access_token);
    assert_eq!(
        claims["authorization_details"], details,
        "access token (RFC 9396 §9.1)"
    );

    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let introspected = Answer::from(
        server
            .http
            .post(format!("{}/introspect", server.issuer))
            .form(&[
                ("token", access_token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        introspected.body["authorization_details"], details,
        "{}",
        introspected.text
    );

    let refreshed = server
        .refresh(
            &client,
            tokens.body["refresh_token"].as_str().unwrap(),
            &dpop,
            &[],
        )
        .await;
    assert_eq!(refreshed.status.as_u16(), 200, "{}", refreshed.text);
    assert_eq!(refreshed.body["authorization_details"], details);
    let (_, claims) = decode_unverified(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(claims["authorization_details"], details);
}

#[tokio::test]
async fn details_are_approved_every_time_even_with_remembered_consent() {
    let server = server_with_payments().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    // A first authorization with plain scopes: the consent is remembered.
    let (verifier, challenge) = pkce();
    let _ = verifier;
    let par = server
        .par(
            &client,
            &TestServer::authorization_params(&client, SCOPE, &challenge),
            &[],
        )
        .await;
    let done = server
        .login_and_approve(
            &browser,
            &client.client_id,
            par.body["request_uri"].as_str().unwrap(),
        )
        .await;
    assert!(done.redirect_param("code").is_some(), "{}", done.text);

    // The same scopes with a payment: the consent page again.
    let (par, _) = push(&server, &client, &payment().to_string(), &[]).await;
    let page = browser
        .get(&server.authorize_url(&client.client_id, par.body["request_uri"].as_str().unwrap()))
        .await;
    assert!(
        page.is_consent_page(),
        "a payment needs the user's approval: {}",
        page.text
    );

    // With prompt=none there is nobody to ask.
    let (par, _) = push(
        &server,
        &client,
        &payment().to_string(),
        &[("prompt", "none")],
    )
    .await;
    let done = browser
        .get(&server.authorize_url(&client.client_id, par.body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(
        done.redirect_param("error").as_deref(),
        Some("consent_required"),
        "{}",
        done.location()
    );
}

#[tokio::test]
async fn malformed_or_unsupported_details_are_invalid_authorization_details() {
    let server = server_with_payments().await;
    let client = server.fapi_client(json!({})).await;
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"type": "account_information"}))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "[{".to_owned(), "JSON array"),
        (
            "an object",
            json!({"type": "payment_initiation"}).to_string(),
            "JSON array",
        ),
        ("empty", "[]".to_owned(), "empty"),
        (
            "not an object",
            json!(["payment_initiation"]).to_string(),
            "JSON object",
        ),
        (
            "no type",
            json!([{"actions": ["read"]}]).to_string(),
            "no type",
        ),
        (
            "type not a string",
            json!([{"type": 7}]).to_string(),
            "must be a string",
        ),
        (
            "unknown type",
            json!([{"type": "crypto_withdrawal"}]).to_string(),
            "not supported",
        ),
        (
            "locations not strings",
            json!([{"type": "account_information", "locations": [1]}]).to_string(),
            "locations",
        ),
        (
            "actions not an array",
            json!([{"type": "account_information", "actions": "read"}]).to_string(),
            "actions",
        ),
        (
            "identifier not a string",
            json!([{"type": "account_information", "identifier": 5}]).to_string(),
            "identifier",
        ),
        (
            "eleven objects",
            Value::Array(eleven).to_string(),
            "more than 10",
        ),
    ];
    for (what, details, fragment) in cases {
        let (answer, _) = push(&server, &client, &details, &[]).await;
        answer.assert_error(400, "invalid_authorization_details", fragment);
        assert!(!answer.text.is_empty(), "{what}");
    }
}

#[tokio::test]
async fn the_token_endpoint_refuses_authorization_details() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let proof = server.token_proof(&ClientKey::es256());
    server
        .token_as(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("authorization_details", &payment().to_string()),
            ],
            &[&proof],
        )
        .await
        .assert_oauth_error(
            400,
            "invalid_authorization_details",
            "pushed authorization request",
        );
}

#[tokio::test]
async fn the_organization_chooses_its_types_and_discovery_lists_them() {
    let server = server_with_payments().await;
    let client = server.fapi_client(json!({})).await;
    let discovery = || async {
        server
            .get(&format!("/{ORG}/.well-known/openid-configuration"))
            .await
            .body["authorization_details_types_supported"]
            .clone()
    };
    assert_eq!(
        discovery().await,
        json!(["payment_initiation", "account_information"])
    );

    server
        .patch_org(json!({"authorization_details_types": ["sepa_credit_transfer"]}))
        .await;
    assert_eq!(discovery().await, json!(["sepa_credit_transfer"]));
    let (answer, _) = push(
        &server,
        &client,
        &json!([{"type": "sepa_credit_transfer"}]).to_string(),
        &[],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
    let (answer, _) = push(&server, &client, &payment().to_string(), &[]).await;
    answer.assert_error(400, "invalid_authorization_details", "sepa_credit_transfer");

    let refused = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/organizations/{ORG}"),
            ORG_TOKEN,
            Some(json!({"authorization_details_types": ["bad\u{7}type"]})),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.text);
}

#[tokio::test]
async fn details_inside_a_signed_request_object_are_an_array_not_a_string() {
    let server = server_with_payments().await;
    let client = server.fapi_client(json!({})).await;
    let (_, challenge) = pkce();
    let now = server.now();
    let request = client.key.sign(
        Some("oauth-authz-req+jwt"),
        None,
        json!({
            "iss": client.client_id, "aud": server.issuer, "client_id": client.client_id,
            "exp": now + 60, "nbf": now, "response_type": "code", "redirect_uri": client.redirect_uri,
            "scope": SCOPE, "code_challenge": challenge, "code_challenge_method": "S256",
            "authorization_details": payment(),
        }),
    );
    let answer = server
        .par(&client, &[("request", request.as_str())], &[])
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
}

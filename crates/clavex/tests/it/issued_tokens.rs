//! Token revocation (RFC 7009, `POST /{org}/revoke`) and introspection (RFC 7662,
//! `POST /{org}/introspect`): client authentication as at the token endpoint, what is found, and
//! that revoking a token ends its grant everywhere (UserInfo, refresh, introspection).

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

const SCOPE: &str = "openid accounts";

/// A form POST to `{issuer}/{endpoint}` authenticated as `client` with a fresh assertion.
async fn ask(
    server: &TestServer,
    endpoint: &str,
    client: &FapiClient,
    form: &[(&str, &str)],
) -> Answer {
    let assertion = client
        .key
        .assertion(&client.client_id, &server.issuer, server.now());
    let mut full: Vec<(&str, &str)> = form.to_vec();
    full.push(("client_assertion_type", JWT_BEARER));
    full.push(("client_assertion", assertion.as_str()));
    Answer::from(
        server
            .http
            .post(format!("{}/{endpoint}", server.issuer))
            .form(&full)
            .send()
            .await
            .expect(endpoint),
    )
    .await
}

/// A signed-in user's tokens for a fresh client: (client, DPoP key, token response).
async fn tokens(server: &TestServer) -> (FapiClient, ClientKey, Answer) {
    let client = server.fapi_client(json!({})).await;
    let key = ClientKey::es256();
    let tokens = server
        .full_flow(&Browser::new(), &client, SCOPE, &key)
        .await;
    (client, key, tokens)
}

/// UserInfo refuses the token: 401 with `invalid_token` in the DPoP challenge.
async fn assert_revoked_at_userinfo(server: &TestServer, access_token: &str, key: &ClientKey) {
    let answer = server.userinfo(access_token, key).await;
    assert_eq!(answer.status.as_u16(), 401, "{}", answer.text);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

fn text<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {}", answer.text))
}

#[tokio::test]
async fn discovery_lists_both_endpoints_with_private_key_jwt() {
    let server = spawn().await;
    let doc = server
        .get(&format!("/{ORG}/.well-known/openid-configuration"))
        .await
        .body;
    assert_eq!(
        doc["revocation_endpoint"],
        json!(format!("{}/revoke", server.issuer))
    );
    assert_eq!(
        doc["introspection_endpoint"],
        json!(format!("{}/introspect", server.issuer))
    );
    for endpoint in ["revocation", "introspection"] {
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!(["private_key_jwt"])
        );
        let algs = doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")]
            .as_array()
            .unwrap()
            .clone();
        assert!(algs.contains(&json!("ES256")) && !algs.contains(&json!("RS256")));
    }
}

#[tokio::test]
async fn introspection_describes_a_live_access_token_to_any_client_of_the_organization() {
    let server = spawn().await;
    server.create_user().await;
    let (client, key, tokens) = tokens(&server).await;
    let access_token = text(&tokens, "access_token");

    // A resource server registered as another client of the organization.
    let resource_server = server.fapi_client(json!({})).await;
    let answer = ask(
        &server,
        "introspect",
        &resource_server,
        &[("token", access_token)],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let body = &answer.body;
    assert_eq!(body["active"], json!(true));
    assert_eq!(body["client_id"], json!(client.client_id));
    assert_eq!(body["token_type"], json!("DPoP"));
    assert_eq!(body["iss"], json!(server.issuer));
    assert_eq!(body["cnf"]["jkt"], json!(key.thumbprint()));
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "accounts")
    );
    assert!(body["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["exp"].as_i64().unwrap() > server.now());
}

#[tokio::test]
async fn introspection_of_a_refresh_token_is_for_its_own_client_only() {
    let server = spawn().await;
    server.create_user().await;
    let (client, _, tokens) = tokens(&server).await;
    let refresh_token = text(&tokens, "refresh_token");

    let own = ask(
        &server,
        "introspect",
        &client,
        &[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(own.status.as_u16(), 200, "{}", own.text);
    assert_eq!(own.body["active"], json!(true));
    assert_eq!(own.body["client_id"], json!(client.client_id));
    assert!(own.body["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        own.body.get("token_type").is_none(),
        "a refresh token has no token_type: {}",
        own.text
    );

    let other = server.fapi_client(json!({})).await;
    let answer = ask(&server, "introspect", &other, &[("token", refresh_token)]).await;
    assert_eq!(answer.status.as_u16(), 200);
    assert_eq!(answer.body, json!({"active": false}));
}

#[tokio::test]
async fn unknown_expired_and_foreign_tokens_are_inactive() {
    let server = spawn().await;
    server.create_user().await;
    let (client, _, tokens) = tokens(&server).await;
    let access_token = text(&tokens, "access_token").to_owned();

    for garbage in [
        "nope",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        &"x".repeat(3000),
    ] {
        let answer = ask(&server, "introspect", &client, &[("token", garbage)]).await;
        assert_eq!(answer.status.as_u16(), 200, "{garbage}: {}", answer.text);
        assert_eq!(answer.body, json!({"active": false}), "{garbage}");
    }

    // A JWT signed by someone else with the right claims shape is not this issuer's.
    let forged = ClientKey::es256().sign(
        Some("at+jwt"),
        None,
        json!({"iss": server.issuer, "sub": "x", "client_id": client.client_id,
               "exp": server.now() + 60, "cnf": {"jkt": "abc"}}),
    );
    let answer = ask(&server, "introspect", &client, &[("token", &forged)]).await;
    assert_eq!(answer.body, json!({"active": false}));

    // After its lifetime the real token is inactive too.
    server.clock.advance(3600);
    let answer = ask(&server, "introspect", &client, &[("token", &access_token)]).await;
    assert_eq!(answer.body, json!({"active": false}), "{}", answer.text);
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_the_grant_everywhere() {
    let server = spawn().await;
    server.create_user().await;
    let (client, key, tokens) = tokens(&server).await;
    let access_token = text(&tokens, "access_token");
    let refresh_token = text(&tokens, "refresh_token");
    assert_eq!(
        server.userinfo(access_token, &key).await.status.as_u16(),
        200
    );

    let answer = ask(
        &server,
        "revoke",
        &client,
        &[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert!(
        answer.text.is_empty(),
        "RFC 7009: an empty body: {}",
        answer.text
    );

    server
        .refresh(&client, refresh_token, &key, &[])
        .await
        .assert_oauth_error(400, "invalid_grant", "");
    assert_revoked_at_userinfo(&server, access_token, &key).await;
    let introspected = ask(&server, "introspect", &client, &[("token", access_token)]).await;
    assert_eq!(introspected.body, json!({"active": false}));

    // Revoking again, or revoking an unknown token, is still a plain 200 (RFC 7009 §2.2).
    for token in [refresh_token, "never-issued"] {
        let again = ask(&server, "revoke", &client, &[("token", token)]).await;
        assert_eq!(again.status.as_u16(), 200, "{}", again.text);
    }
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_grant_and_a_wrong_hint_is_only_a_hint() {
    let server = spawn().await;
    server.create_user().await;
    let (client, key, tokens) = tokens(&server).await;
    let access_token = text(&tokens, "access_token");
    let refresh_token = text(&tokens, "refresh_token");

    let answer = ask(
        &server,
        "revoke",
        &client,
        &[
            ("token", access_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert_revoked_at_userinfo(&server, access_token, &key).await;
    server
        .refresh(&client, refresh_token, &key, &[])
        .await
        .assert_oauth_error(400, "invalid_grant", "");
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_tokens() {
    let server = spawn().await;
    server.create_user().await;
    let (client, key, tokens) = tokens(&server).await;
    let other = server.fapi_client(json!({})).await;
    for token in [
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
    ] {
        ask(&server, "revoke", &other, &[("token", token)])
            .await
            .assert_oauth_error(400, "unauthorized_client", "not issued to this client");
    }
    // Nothing was revoked.
    assert_eq!(
        server
            .userinfo(text(&tokens, "access_token"), &key)
            .await
            .status
            .as_u16(),
        200
    );
    let refreshed = server
        .refresh(&client, text(&tokens, "refresh_token"), &key, &[])
        .await;
    assert_eq!(refreshed.status.as_u16(), 200, "{}", refreshed.text);
}

#[tokio::test]
async fn client_credentials_access_tokens_cannot_be_revoked() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    let dpop = ClientKey::es256();
    let proof = server.token_proof(&dpop);
    let answer = server
        .token_as(&client, &[("grant_type", "client_credentials")], &[&proof])
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    ask(
        &server,
        "revoke",
        &client,
        &[("token", text(&answer, "access_token"))],
    )
    .await
    .assert_oauth_error(400, "unsupported_token_type", "client_credentials");
    // It can still be introspected (it has no grant to check).
    let introspected = ask(
        &server,
        "introspect",
        &client,
        &[("token", text(&answer, "access_token"))],
    )
    .await;
    assert_eq!(
        introspected.body["active"],
        json!(true),
        "{}",
        introspected.text
    );
}

#[tokio::test]
async fn both_endpoints_authenticate_the_client_and_refuse_bad_requests() {
    let server = spawn().await;
    let client = server.fapi_client(json!({})).await;
    for endpoint in ["revoke", "introspect"] {
        let url = format!("{}/{endpoint}", server.issuer);
        // No client authentication.
        let answer = Answer::from(
            server
                .http
                .post(&url)
                .form(&[("token", "x")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_oauth_error(401, "invalid_client", "private_key_jwt");
        // client_secret_post is not FAPI.
        let answer = Answer::from(
            server
                .http
                .post(&url)
                .form(&[
                    ("token", "x"),
                    ("client_id", client.client_id.as_str()),
                    ("client_secret", "s"),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_oauth_error(401, "invalid_client", "client_secret_post");
        // A replayed assertion.
        let assertion = client
            .key
            .assertion(&client.client_id, &server.issuer, server.now());
        let form = [
            ("token", "x"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ];
        let first = Answer::from(server.http.post(&url).form(&form).send().await.unwrap()).await;
        assert_eq!(first.status.as_u16(), 200, "{endpoint}: {}", first.text);
        let replay = Answer::from(server.http.post(&url).form(&form).send().await.unwrap()).await;
        replay.assert_oauth_error(401, "invalid_client", "jti has already been used");
        // Missing or repeated token.
        ask(&server, endpoint, &client, &[])
            .await
            .assert_oauth_error(400, "invalid_request", "token is required");
        ask(
            &server,
            endpoint,
            &client,
            &[("token", "a"), ("token", "b")],
        )
        .await
        .assert_oauth_error(400, "invalid_request", "token");
        // Not a form.
        let answer = Answer::from(
            server
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"token\":\"x\"}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_oauth_error(400, "invalid_request", "application/x-www-form-urlencoded");
    }
}

#[tokio::test]
async fn a_signed_introspection_response_when_the_caller_asks_for_one() {
    let server = spawn().await;
    server.create_user().await;
    let (client, key, tokens) = tokens(&server).await;
    let resource_server = server
        .fapi_client(json!({"introspection_signed_response_alg": "PS256"}))
        .await;
    let access_token = text(&tokens, "access_token");
    let introspect = |accept: &'static str, token: String| {
        let server = &server;
        let resource_server = &resource_server;
        async move {
            let assertion = resource_server.key.assertion(
                &resource_server.client_id,
                &server.issuer,
                server.now(),
            );
            Answer::from(
                server
                    .http
                    .post(format!("{}/introspect", server.issuer))
                    .header("accept", accept)
                    .form(&[
                        ("token", token.as_str()),
                        ("client_assertion_type", JWT_BEARER),
                        ("client_assertion", assertion.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let answer = introspect(
        "application/json;q=0.5, application/token-introspection+jwt",
        access_token.to_owned(),
    )
    .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert_eq!(
        answer.headers["content-type"],
        "application/token-introspection+jwt"
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
    let jwks = server.get(&format!("/{ORG}/jwks")).await.body;
    let claims = verify_with_jwks(&answer.text, &jwks).expect("signed by a published key");
    let (header, _) = decode_unverified(&answer.text);
    assert_eq!(header["typ"], json!("token-introspection+jwt"));
    assert_eq!(
        header["alg"],
        json!("PS256"),
        "the client's introspection_signed_response_alg"
    );
    assert_eq!(claims["iss"], json!(server.issuer));
    assert_eq!(claims["aud"], json!(resource_server.client_id));
    assert!(claims["iat"].is_i64());
    let inner = &claims["token_introspection"];
    assert_eq!(inner["active"], json!(true));
    assert_eq!(inner["client_id"], json!(client.client_id));
    assert_eq!(inner["cnf"]["jkt"], json!(key.thumbprint()));
    // RFC 9701 §5: the token's own claims stay inside token_introspection.
    assert!(
        claims.get("sub").is_none() && claims.get("exp").is_none(),
        "{claims}"
    );

    // An inactive token is a signed {"active": false}.
    let answer = introspect("application/token-introspection+jwt", "nope".to_owned()).await;
    let claims = verify_with_jwks(&answer.text, &jwks).unwrap();
    assert_eq!(claims["token_introspection"], json!({"active": false}));

    // Without the media type in Accept, plain JSON as before.
    let answer = introspect("application/json", access_token.to_owned()).await;
    assert_eq!(answer.body["active"], json!(true), "{}", answer.text);
}

#[tokio::test]
async fn a_basic_authentication_attempt_gets_a_basic_challenge() {
    let server = spawn().await;
    for endpoint in ["revoke", "introspect"] {
        let answer = Answer::from(
            server
                .http
                .post(format!("{}/{endpoint}", server.issuer))
                .header("authorization", "Basic Y2xpZW50OnNlY3JldA==")
                .form(&[("token", "x")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 401, "{endpoint}: {}", answer.text);
        assert_eq!(answer.error(), "invalid_client");
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Basic realm="),
            "{endpoint}: {challenge}"
        );
    }
}

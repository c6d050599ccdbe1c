//! Dynamic client registration (RFC 7591) at `/{org}/register` and management (RFC 7592) at
//! `registration_client_uri`: the per-organization policy (`disabled`, `open`,
//! `initial_access_token`), initial access tokens, the FAPI 2.0 registration rules through the
//! registration endpoint, registration access tokens, and that what is registered, changed or
//! deleted takes effect at the token endpoint at once.

use clavex_store::{ArtifactKind, ArtifactRecord};
use clavex_testkit::flow::*;
use clavex_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

const ACME: &str = "/api/v1/organizations/acme";
const IATS: &str = "/api/v1/organizations/acme/initial-access-tokens";

/// A complete FAPI 2.0 registration with an inline JWKS of `key`.
fn body_for(key: &ClientKey) -> Value {
    json!({
        "client_name": "Dynamic TPP",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(),
        "dpop_bound_access_tokens": true,
    })
}

/// `body` with members replaced (`null` removes the member).
fn with(mut body: Value, changes: Value) -> Value {
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

/// `POST /acme/register` with an optional bearer token.
async fn register(server: &TestServer, token: Option<&str>, body: &Value) -> Answer {
    register_at(server, "acme", token, body).await
}

async fn register_at(server: &TestServer, org: &str, token: Option<&str>, body: &Value) -> Answer {
    let mut request = server
        .http
        .post(server.url(&format!("/{org}/register")))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.unwrap()).await
}

/// A request at a `registration_client_uri`.
async fn manage(
    server: &TestServer,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = server.http.request(method, uri);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Answer::from(request.send().await.unwrap()).await
}

/// Issues an initial access token through the Admin API (`body` as given) and returns the answer.
async fn issue(server: &TestServer, body: Value) -> Answer {
    server
        .admin(Method::POST, IATS, ORG_TOKEN, Some(body))
        .await
}

/// Issues an initial access token and returns it.
async fn initial_access_token(server: &TestServer, body: Value) -> String {
    let answer = issue(server, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body["token"].as_str().unwrap().to_owned()
}

async fn set_policy(server: &TestServer, policy: &str) {
    let org = server
        .patch_org(json!({ "dynamic_registration": policy }))
        .await;
    assert_eq!(org["settings"]["dynamic_registration"], policy);
}

/// A registration that must succeed; returns the client information response.
async fn registered(server: &TestServer, token: Option<&str>, body: &Value) -> Value {
    let answer = register(server, token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body
}

/// 401 `invalid_token` with a Bearer challenge (RFC 6750 §3), as every credential failure at the
/// registration endpoints is answered.
#[track_caller]
fn assert_invalid_token(answer: &Answer, fragment: &str) {
    answer.assert_error(401, "invalid_token", fragment);
    let challenge = answer
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "WWW-Authenticate: {challenge:?}"
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
}

async fn discovery(server: &TestServer) -> Vec<Value> {
    let mut docs = Vec::new();
    for path in [
        "/acme/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/acme",
    ] {
        let answer = server.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        docs.push(answer.body);
    }
    docs
}

async fn admin_client_count(server: &TestServer) -> usize {
    let list = server
        .admin(Method::GET, &format!("{ACME}/clients"), ORG_TOKEN, None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    list.body.as_array().unwrap().len()
}

#[tokio::test]
async fn default_policy_requires_an_initial_access_token() {
    let server = spawn().await;
    let org = server.admin(Method::GET, ACME, ORG_TOKEN, None).await;
    assert_eq!(
        org.body["settings"]["dynamic_registration"],
        "initial_access_token"
    );
    for md in discovery(&server).await {
        assert_eq!(
            md["registration_endpoint"],
            format!("{}/register", server.issuer)
        );
    }
    let body = body_for(&ClientKey::es256());

    let none = register(&server, None, &body).await;
    assert_invalid_token(&none, "an initial access token is required");
    assert!(none.description().contains("Authorization: Bearer"));
    for wrong in [
        "clx_iat_not-a-token",
        ORG_TOKEN,
        SERVER_TOKEN,
        "clx_rat_not-a-token",
    ] {
        let answer = register(&server, Some(wrong), &body).await;
        assert_invalid_token(&answer, "the initial access token is not valid");
    }
    // A Basic header is no bearer token either.
    let basic = Answer::from(
        server
            .http
            .post(server.url("/acme/register"))
            .basic_auth("user", Some("pass"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_invalid_token(&basic, "an initial access token is required");
    // The credentials are checked before the body is looked at.
    let garbage = server
        .admin_raw(
            Method::POST,
            "/acme/register",
            None,
            Some(("application/json", "{not json")),
        )
        .await;
    assert_invalid_token(&garbage, "an initial access token is required");
    assert_eq!(admin_client_count(&server).await, 0);
}

#[tokio::test]
async fn single_use_initial_access_token_registers_once() {
    let server = spawn().await;
    let issued = issue(&server, json!({})).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("clx_iat_") && token.len() >= 8 + 43,
        "{token}"
    );
    assert_eq!(issued.body["multi_use"], false);
    let expires_at = issued.body["expires_at"].as_i64().unwrap();
    assert!(
        (expires_at - (server.now() + 86_400)).abs() <= 1,
        "{expires_at}"
    );

    // A refused registration does not use the token up.
    let key = ClientKey::es256();
    let bad = register(
        &server,
        Some(&token),
        &with(body_for(&key), json!({"token_endpoint_auth_method": null})),
    )
    .await;
    bad.assert_error(400, "invalid_client_metadata", "private_key_jwt");

    let answer = register(&server, Some(&token), &body_for(&key)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["pragma"], "no-cache");
    let info = &answer.body;
    let client_id = info["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("clavex_fapi_"), "{client_id}");
    let issued_at = info["client_id_issued_at"].as_i64().unwrap();
    assert!((issued_at - server.now()).abs() <= 1);
    let rat = info["registration_access_token"].as_str().unwrap();
    assert!(rat.starts_with("clx_rat_") && rat.len() >= 8 + 43, "{rat}");
    let uri = format!("{}/register/{client_id}", server.issuer);
    assert_eq!(info["registration_client_uri"], uri.as_str());
    assert_eq!(answer.headers["location"], uri.as_str());
    // The full metadata as stored: what the Admin API shows, plus the two management members.
    let stored = server
        .admin(
            Method::GET,
            &format!("{ACME}/clients/{client_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK);
    let mut expected = stored.body.clone();
    expected["registration_access_token"] = json!(rat);
    expected["registration_client_uri"] = json!(uri);
    assert_eq!(info, &expected);
    assert_eq!(info["client_name"], "Dynamic TPP");
    assert_eq!(info["jwks"], key.jwks());
    assert_eq!(info["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(info["require_pushed_authorization_requests"], true);
    assert_eq!(info["dpop_bound_access_tokens"], true);

    // Used once: refused from now on.
    let again = register(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    assert_invalid_token(&again, "the initial access token has already been used");
    assert_eq!(admin_client_count(&server).await, 1);
}

#[tokio::test]
async fn a_single_use_token_wins_one_of_two_racing_registrations() {
    let server = spawn().await;
    let token = initial_access_token(&server, json!({})).await;
    let (a, b) = (body_for(&ClientKey::es256()), body_for(&ClientKey::es256()));
    let (first, second) = tokio::join!(
        register(&server, Some(&token), &a),
        register(&server, Some(&token), &b)
    );
    let created = [&first, &second]
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{} / {}", first.text, second.text);
    let loser = if first.status == StatusCode::CREATED {
        &second
    } else {
        &first
    };
    assert_invalid_token(loser, "already been used");
    assert_eq!(admin_client_count(&server).await, 1);
}

#[tokio::test]
async fn multi_use_token_registers_until_it_expires() {
    let server = spawn().await;
    let issued = issue(&server, json!({"expires_in": 600, "multi_use": true})).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    assert_eq!(issued.body["multi_use"], true);
    assert_eq!(issued.body["expires_at"], server.now() + 600);
    let token = issued.body["token"].as_str().unwrap().to_owned();

    let one = registered(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    let two = registered(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    assert_ne!(one["client_id"], two["client_id"]);
    assert_ne!(
        one["registration_access_token"],
        two["registration_access_token"]
    );

    server.clock.advance(599);
    registered(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    server.clock.advance(1);
    let expired = register(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    assert_invalid_token(&expired, "the initial access token has expired");

    // A single-use token expires the same way, unused.
    let short = initial_access_token(&server, json!({"expires_in": 60})).await;
    server.clock.advance(60);
    let expired = register(&server, Some(&short), &body_for(&ClientKey::es256())).await;
    assert_invalid_token(&expired, "the initial access token has expired");
    assert_eq!(admin_client_count(&server).await, 3);
}

#[tokio::test]
async fn initial_access_tokens_are_issued_by_org_admins_with_valid_options() {
    let server = spawn().await;
    for (body, fragment) in [
        (json!({"expires_in": 0}), "expires_in must be"),
        (json!({"expires_in": 59}), "expires_in must be"),
        (json!({"expires_in": 7_776_001}), "expires_in must be"),
        (json!({"expires_in": "3600"}), "expires_in must be"),
        (json!({"expires_in": 3600.5}), "expires_in must be"),
        (json!({"multi_use": "yes"}), "multi_use must be a boolean"),
        (json!({"uses": 3}), "unknown member uses"),
        (json!([]), "body must be a JSON object"),
    ] {
        issue(&server, body.clone())
            .await
            .assert_error(400, "invalid_request", fragment);
    }
    // A body is optional.
    let bare = server
        .admin_raw(Method::POST, IATS, Some(ORG_TOKEN), None)
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.text);

    // Admin tokens only, of this organization (or the server's).
    let none = server.admin_raw(Method::POST, IATS, None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let beta_token = server.create_org("beta").await;
    let other = server
        .admin(Method::POST, IATS, &beta_token, Some(json!({})))
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
    let by_server = server
        .admin(Method::POST, IATS, SERVER_TOKEN, Some(json!({})))
        .await;
    assert_eq!(by_server.status, StatusCode::CREATED);

    // A token registers only in its own organization.
    let beta_iat = server
        .admin(
            Method::POST,
            "/api/v1/organizations/beta/initial-access-tokens",
            &beta_token,
            Some(json!({"multi_use": true})),
        )
        .await;
    assert_eq!(beta_iat.status, StatusCode::CREATED, "{}", beta_iat.text);
    let beta_iat = beta_iat.body["token"].as_str().unwrap();
    let body = body_for(&ClientKey::es256());
    let wrong_org = register(&server, Some(beta_iat), &body).await;
    assert_invalid_token(&wrong_org, "the initial access token is not valid");
    let answer = register_at(&server, "beta", Some(beta_iat), &body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(
        answer.body["registration_client_uri"],
        format!(
            "{}/register/{}",
            server.issuer_of("beta"),
            answer.body["client_id"].as_str().unwrap()
        )
    );
    // An organization that does not exist has no registration endpoint.
    register_at(&server, "nowhere", Some(beta_iat), &body)
        .await
        .assert_error(404, "not_found", "");
}

#[tokio::test]
async fn open_policy_registers_without_a_token() {
    let server = spawn().await;
    set_policy(&server, "open").await;
    for md in discovery(&server).await {
        assert_eq!(
            md["registration_endpoint"],
            format!("{}/register", server.issuer)
        );
    }
    let info = registered(&server, None, &body_for(&ClientKey::es256())).await;
    assert!(info["registration_access_token"].is_string());
    // A client_id in the request is not the client's to choose (RFC 7591 §3.2.1): ignored.
    let chosen = registered(
        &server,
        None,
        &with(
            body_for(&ClientKey::es256()),
            json!({"client_id": "my-own-id"}),
        ),
    )
    .await;
    assert_ne!(chosen["client_id"], "my-own-id");
    // Server-set members sent by a client are ignored too.
    let echoed = registered(
        &server,
        None,
        &with(
            body_for(&ClientKey::es256()),
            json!({"client_id_issued_at": 1, "registration_access_token": "mine",
                   "registration_client_uri": "https://evil.example/", "client_secret_expires_at": 0}),
        ),
    )
    .await;
    assert_ne!(echoed["client_id_issued_at"], 1);
    assert_ne!(echoed["registration_access_token"], "mine");
    assert!(
        echoed["registration_client_uri"]
            .as_str()
            .unwrap()
            .starts_with(&server.issuer)
    );
    assert!(echoed.get("client_secret_expires_at").is_none());
}

#[tokio::test]
async fn disabled_policy_hides_the_endpoint() {
    let server = spawn().await;
    set_policy(&server, "open").await;
    let info = registered(&server, None, &body_for(&ClientKey::es256())).await;
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    set_policy(&server, "disabled").await;
    for md in discovery(&server).await {
        assert!(md.get("registration_endpoint").is_none(), "{md}");
    }
    let token = initial_access_token(&server, json!({})).await;
    for bearer in [None, Some(token.as_str())] {
        register(&server, bearer, &body_for(&ClientKey::es256()))
            .await
            .assert_error(404, "not_found", "registration endpoint");
    }
    // Management is off too (the Admin API still manages the client).
    manage(&server, Method::GET, &uri, Some(&rat), None)
        .await
        .assert_error(404, "not_found", "registration endpoint");

    // Only the three policies exist.
    let bad = server
        .admin(
            Method::PATCH,
            ACME,
            ORG_TOKEN,
            Some(json!({"dynamic_registration": "sometimes"})),
        )
        .await;
    bad.assert_error(400, "invalid_request", "unknown variant `sometimes`");
    let bad = server
        .admin(
            Method::PATCH,
            ACME,
            ORG_TOKEN,
            Some(json!({"dynamic_registration": true})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);

    // Enabled again: the token issued while disabled works, and so does the old client's token.
    set_policy(&server, "initial_access_token").await;
    registered(&server, Some(&token), &body_for(&ClientKey::es256())).await;
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    // `null` restores the default.
    let org = server
        .patch_org(json!({"dynamic_registration": null}))
        .await;
    assert_eq!(
        org["settings"]["dynamic_registration"],
        "initial_access_token"
    );
}

#[tokio::test]
async fn fapi_registration_rules_apply_at_the_registration_endpoint() {
    let server = spawn().await;
    let token = initial_access_token(&server, json!({"multi_use": true})).await;
    let key = ClientKey::es256();
    let mut private = key.key.public_jwk();
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases = [
        (
            json!({"token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method tls_client_auth (mTLS) is not yet supported by Clavex; use private_key_jwt",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method client_secret_basic is not allowed under FAPI 2.0 (shared secrets); use private_key_jwt",
        ),
        // RFC 7591 §2's default would be client_secret_basic: refused, saying what to send.
        (
            json!({"token_endpoint_auth_method": null}),
            "invalid_client_metadata",
            "token_endpoint_auth_method is required; FAPI 2.0 clients use \"private_key_jwt\"",
        ),
        (
            json!({"redirect_uris": ["http://tpp.example.com/callback"]}),
            "invalid_redirect_uri",
            "redirect URI http://tpp.example.com/callback must use https (plain http is allowed only on loopback)",
        ),
        (
            json!({"redirect_uris": ["https://tpp.example.com/callback#frag"]}),
            "invalid_redirect_uri",
            "redirect URI https://tpp.example.com/callback#frag must not contain a fragment",
        ),
        (
            json!({"jwks_uri": "https://tpp.example.com/jwks.json"}),
            "invalid_client_metadata",
            "send either jwks or jwks_uri, not both",
        ),
        (
            json!({"jwks": {"keys": [private]}}),
            "invalid_client_metadata",
            "jwks: JWK set key 0: JWK contains private key member 'd'",
        ),
        (
            json!({"token_endpoint_auth_signing_alg": "RS256"}),
            "invalid_client_metadata",
            "token_endpoint_auth_signing_alg: algorithm RS256 is not allowed; use one of PS256, ES256, EdDSA (Ed25519)",
        ),
        (
            json!({"client_secret": "s3cret"}),
            "invalid_client_metadata",
            "client_secret cannot be set: FAPI 2.0 clients authenticate with private_key_jwt",
        ),
        (
            json!({"dpop_bound_access_tokens": false}),
            "invalid_client_metadata",
            "DPoP binding cannot be switched off: FAPI 2.0 requires sender-constrained access tokens (mTLS binding is not yet supported)",
        ),
        (
            json!({"require_pushed_authorization_requests": false}),
            "invalid_client_metadata",
            "require_pushed_authorization_requests cannot be false: FAPI 2.0 requires PAR",
        ),
        (
            json!({"software_statement": "eyJhbGciOiJQUzI1NiJ9.e30.c2ln"}),
            "invalid_software_statement",
            "software statements are not supported; send the client metadata as plain JSON members",
        ),
    ];
    for (changes, code, message) in cases {
        let answer = register(
            &server,
            Some(&token),
            &with(body_for(&key), changes.clone()),
        )
        .await;
        answer.assert_error(400, code, message);
        assert_eq!(answer.description(), message, "{changes}");
        assert_eq!(answer.headers["cache-control"], "no-store");
    }
    // Not JSON at all.
    let form = Answer::from(
        server
            .http
            .post(server.url("/acme/register"))
            .bearer_auth(&token)
            .form(&[("client_name", "x")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    form.assert_error(
        400,
        "invalid_client_metadata",
        "Content-Type: application/json",
    );
    let broken = server
        .admin_raw(
            Method::POST,
            "/acme/register",
            Some(&token),
            Some(("application/json", "{\"client_name\": ")),
        )
        .await;
    broken.assert_error(400, "invalid_client_metadata", "not valid JSON");
    let array = register(&server, Some(&token), &json!([])).await;
    array.assert_error(400, "invalid_client_metadata", "must be a JSON object");
    assert_eq!(admin_client_count(&server).await, 0);
}

#[tokio::test]
async fn a_registered_client_gets_tokens_at_once() {
    let server = spawn().await;
    let token = initial_access_token(&server, json!({})).await;
    let key = ClientKey::es256();
    let info = registered(&server, Some(&token), &body_for(&key)).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();

    // client_credentials with private_key_jwt and DPoP.
    let dpop = ClientKey::es256();
    let answer = server
        .client_credentials(&client_id, &key, &dpop, &[("scope", "accounts")])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");
    let (_, at) = decode_unverified(answer.body["access_token"].as_str().unwrap());
    assert_eq!(at["client_id"], client_id.as_str());
    assert_eq!(at["cnf"]["jkt"], dpop.thumbprint());

    // The code flow: PAR, login, consent, code, DPoP-bound tokens.
    server.create_user().await;
    let client = FapiClient {
        client_id: client_id.clone(),
        key,
        redirect_uri: REDIRECT_URI.to_owned(),
    };
    let tokens = server
        .full_flow(&Browser::new(), &client, "openid accounts", &dpop)
        .await;
    assert_eq!(tokens.body["token_type"], "DPoP");
    let (_, id_token) = decode_unverified(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client_id.as_str());
}

#[tokio::test]
async fn read_update_and_delete_with_the_registration_access_token() {
    let server = spawn().await;
    set_policy(&server, "open").await;
    let key = ClientKey::es256();
    let info = registered(&server, None, &body_for(&key)).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = registered(&server, None, &body_for(&ClientKey::es256())).await;
    let other_rat = other["registration_access_token"].as_str().unwrap();
    let other_uri = other["registration_client_uri"].as_str().unwrap();

    // Read: the current metadata and the same management members.
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.headers["cache-control"], "no-store");
    assert_eq!(read.body, info);

    // Wrong credentials, for every method: 401 invalid_token, whether or not the client exists.
    let missing_uri = format!("{}/register/clavex_fapi_nobody", server.issuer);
    let put_body = with(info.clone(), json!({"client_name": "Renamed"}));
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then_some(&put_body);
        let none = manage(&server, method.clone(), &uri, None, body).await;
        assert_invalid_token(&none, "a registration access token is required");
        let mut descriptions = Vec::new();
        for (target, token) in [
            (uri.as_str(), "clx_rat_wrong"),
            (uri.as_str(), ORG_TOKEN),
            (uri.as_str(), SERVER_TOKEN),
            // Another client's token, here and for a client that does not exist.
            (uri.as_str(), other_rat),
            (missing_uri.as_str(), other_rat),
            (missing_uri.as_str(), rat.as_str()),
        ] {
            let answer = manage(&server, method.clone(), target, Some(token), body).await;
            assert_invalid_token(&answer, "not valid for this client");
            descriptions.push(answer.description().to_owned());
        }
        descriptions.dedup();
        assert_eq!(descriptions.len(), 1, "{descriptions:?}");
    }
    // ... and nothing changed.
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.body, info);
    let read = manage(&server, Method::GET, other_uri, Some(other_rat), None).await;
    assert_eq!(read.body, other);

    // The client authenticates (and the node caches it).
    let dpop = ClientKey::es256();
    let ok = server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // Update: client_id required and equal to the path's.
    let new_key = ClientKey::es256();
    let update = with(
        body_for(&new_key),
        json!({"client_id": client_id, "client_name": "Renamed TPP"}),
    );
    let no_id = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(update.clone(), json!({"client_id": null}))),
    )
    .await;
    no_id.assert_error(400, "invalid_client_metadata", "client_id must be sent");
    let other_id = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(
            update.clone(),
            json!({"client_id": other["client_id"]}),
        )),
    )
    .await;
    other_id.assert_error(400, "invalid_client_metadata", "client_id must be sent");
    // A client secret is refused (a FAPI client has none to match, RFC 7592 §2.2).
    let secret = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(update.clone(), json!({"client_secret": "x"}))),
    )
    .await;
    secret.assert_error(
        400,
        "invalid_client_metadata",
        "client_secret cannot be set",
    );
    // The same FAPI rules as at registration.
    let rs256 = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(
            update.clone(),
            json!({"token_endpoint_auth_signing_alg": "RS256"}),
        )),
    )
    .await;
    rs256.assert_error(
        400,
        "invalid_client_metadata",
        "token_endpoint_auth_signing_alg: algorithm RS256 is not allowed",
    );
    let omitted = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(
            update.clone(),
            json!({"token_endpoint_auth_method": null}),
        )),
    )
    .await;
    omitted.assert_error(400, "invalid_client_metadata", "\"private_key_jwt\"");

    // A full replacement: the new key, no refresh_token grant; echoed server-set members ignored.
    let replacement = with(
        update.clone(),
        json!({"grant_types": ["authorization_code", "client_credentials"],
               "registration_access_token": rat, "registration_client_uri": uri,
               "client_id_issued_at": 1}),
    );
    let updated = manage(&server, Method::PUT, &uri, Some(&rat), Some(&replacement)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.headers["cache-control"], "no-store");
    assert_eq!(updated.body["client_name"], "Renamed TPP");
    assert_eq!(updated.body["jwks"], new_key.jwks());
    assert_eq!(
        updated.body["grant_types"],
        json!(["authorization_code", "client_credentials"])
    );
    assert_eq!(
        updated.body["client_id_issued_at"],
        info["client_id_issued_at"]
    );
    assert_eq!(updated.body["registration_access_token"], rat.as_str());
    assert_eq!(updated.body["registration_client_uri"], uri.as_str());
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.body, updated.body);
    // Omitted members are removed (replace, not augment).
    let trimmed = manage(
        &server,
        Method::PUT,
        &uri,
        Some(&rat),
        Some(&with(replacement.clone(), json!({"client_name": null}))),
    )
    .await;
    assert_eq!(trimmed.status, StatusCode::OK, "{}", trimmed.text);
    assert!(
        trimmed.body.get("client_name").is_none(),
        "{}",
        trimmed.text
    );

    // The update takes effect at once on this node: the old key no longer authenticates.
    let old = server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await;
    old.assert_error(401, "invalid_client", "");
    let new = server
        .client_credentials(&client_id, &new_key, &dpop, &[])
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);

    // Delete: 204, then the client is gone everywhere, at once.
    let deleted = manage(&server, Method::DELETE, &uri, Some(&rat), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let after = server
        .client_credentials(&client_id, &new_key, &dpop, &[])
        .await;
    after.assert_error(401, "invalid_client", "");
    for method in [Method::GET, Method::DELETE] {
        let answer = manage(&server, method, &uri, Some(&rat), None).await;
        assert_invalid_token(&answer, "not valid for this client");
    }
    let admin = server
        .admin(
            Method::GET,
            &format!("{ACME}/clients/{client_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(admin.status, StatusCode::NOT_FOUND);
    // The other client is untouched.
    let read = manage(&server, Method::GET, other_uri, Some(other_rat), None).await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn registration_access_token_stays_with_the_registration() {
    let server = spawn().await;
    set_policy(&server, "open").await;
    let key = ClientKey::es256();
    let info = registered(&server, None, &body_for(&key)).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_uri = format!("{ACME}/clients/{client_id}");

    // An Admin API change keeps the registration manageable.
    let patched = server
        .admin(
            Method::PATCH,
            &admin_uri,
            ORG_TOKEN,
            Some(json!({"client_name": "Admin renamed"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["client_name"], "Admin renamed");

    // A client deleted through the Admin API and re-created under the same id is another
    // registration: the old token does not reach it.
    let deleted = server
        .admin(Method::DELETE, &admin_uri, ORG_TOKEN, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    server.clock.advance(1);
    let recreated = server
        .admin(
            Method::POST,
            &format!("{ACME}/clients"),
            ORG_TOKEN,
            Some(with(body_for(&key), json!({"client_id": client_id}))),
        )
        .await;
    assert_eq!(recreated.status, StatusCode::CREATED, "{}", recreated.text);
    for method in [Method::GET, Method::DELETE] {
        let answer = manage(&server, method, &uri, Some(&rat), None).await;
        assert_invalid_token(&answer, "not valid for this client");
    }
    let still_there = server.admin(Method::GET, &admin_uri, ORG_TOKEN, None).await;
    assert_eq!(still_there.status, StatusCode::OK);
}

/// The stored registration access token of `token`, if any.
async fn registration_token_row(server: &TestServer, token: &str) -> Option<ArtifactRecord> {
    server
        .store
        .get_artifact(
            ArtifactKind::RegistrationAccessToken,
            &clavex_jose::sha256(token.as_bytes()),
        )
        .await
        .unwrap()
}

/// A dynamically registered client deleted through the Admin API takes its registration access
/// token with it: the token's row is gone from the store (not merely unusable), and only that
/// client's.
#[tokio::test]
async fn admin_api_delete_removes_the_registration_access_token() {
    let server = spawn().await;
    set_policy(&server, "open").await;
    let info = registered(&server, None, &body_for(&ClientKey::es256())).await;
    let client_id = info["client_id"].as_str().unwrap();
    let uri = info["registration_client_uri"].as_str().unwrap();
    let rat = info["registration_access_token"].as_str().unwrap();
    let other = registered(&server, None, &body_for(&ClientKey::es256())).await;
    let other_uri = other["registration_client_uri"].as_str().unwrap();
    let other_rat = other["registration_access_token"].as_str().unwrap();
    let row = registration_token_row(&server, rat).await.unwrap();
    assert_eq!(row.client_id.as_deref(), Some(client_id));

    let deleted = server
        .admin(
            Method::DELETE,
            &format!("{ACME}/clients/{client_id}"),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    // Checked before the token is presented again (presenting a stale token also deletes it).
    assert_eq!(registration_token_row(&server, rat).await, None);
    assert!(registration_token_row(&server, other_rat).await.is_some());
    for method in [Method::GET, Method::DELETE] {
        let answer = manage(&server, method, uri, Some(rat), None).await;
        assert_invalid_token(&answer, "not valid for this client");
    }
    let read = manage(&server, Method::GET, other_uri, Some(other_rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(admin_client_count(&server).await, 1);
}

const LOG_SCENARIO_ENV: &str = "CLAVEX_DCR_LOG_SCENARIO";

/// Runs [`registration_log_scenario`] in a child process of this test binary, whose global
/// `tracing` subscriber writes everything (every target, every level) to stderr, and checks that
/// no initial or registration access token appears there. (A scoped subscriber in this process
/// would miss events whose callsites other tests registered first.)
#[tokio::test]
async fn registration_secrets_never_reach_logs_or_the_admin_api() {
    let exe = std::env::current_exe().unwrap();
    let output = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "dcr::registration_log_scenario",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOG_SCENARIO_ENV, "1")
        .output()
        .await
        .expect("run this test binary again (was it rebuilt while the tests ran?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("DCR-SECRETS ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the scenario did not run: {stdout}"));
    let values: Vec<&str> = line.split(' ').collect();
    let [client_id, iat, rat] = values[..] else {
        panic!("{line}")
    };
    // The capture works: the node's requests and the registration are in it.
    assert!(stderr.contains("/acme/register"), "{stderr}");
    assert!(stderr.contains(client_id), "{stderr}");
    for secret in [iat, rat] {
        assert!(
            !stderr.contains(secret),
            "a registration secret was logged: {stderr}"
        );
    }
}

/// The scenario behind [`registration_secrets_never_reach_logs_or_the_admin_api`]: issue an
/// initial access token, register, read, update, fail once; check the Admin API and the store.
#[tokio::test]
#[ignore = "run in a child process by registration_secrets_never_reach_logs_or_the_admin_api"]
async fn registration_log_scenario() {
    if std::env::var_os(LOG_SCENARIO_ENV).is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
    }
    let server = spawn().await;
    let iat = initial_access_token(&server, json!({"multi_use": true})).await;
    let info = registered(&server, Some(&iat), &body_for(&ClientKey::es256())).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = manage(&server, Method::GET, &uri, Some(&rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let put = with(info.clone(), json!({"client_name": "Renamed"}));
    let updated = manage(&server, Method::PUT, &uri, Some(&rat), Some(&put)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    let wrong = manage(&server, Method::GET, &uri, Some("clx_rat_wrong"), None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // The Admin API shows the client's metadata, never the registration access token or its hash.
    let hash = b64(&clavex_jose::sha256(rat.as_bytes()));
    for path in [
        format!("{ACME}/clients/{client_id}"),
        format!("{ACME}/clients"),
    ] {
        let answer = server.admin(Method::GET, &path, ORG_TOKEN, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.text.contains(&client_id));
        assert!(!answer.text.contains(&rat), "{}", answer.text);
        assert!(!answer.text.contains(&hash), "{}", answer.text);
        assert!(answer.body.get("registration_access_token").is_none());
    }
    // The client record holds neither the token nor its hash.
    let stored = server
        .store
        .get_client("acme", &client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.metadata_json.contains(&rat));
    assert!(!stored.metadata_json.contains(&hash));

    println!("DCR-SECRETS {client_id} {iat} {rat}");
}

//! Admin API: authentication and authorization of admin tokens, organizations (tenants) and their
//! settings, and the OpenAPI document.

use clavex_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

const ORGS: &str = "/api/v1/organizations";
const ACME: &str = "/api/v1/organizations/acme";

fn cc_client_body(key: &ClientKey) -> Value {
    json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(),
    })
}

/// Creates organization `beta` with the server token; returns its admin token.
async fn create_beta(server: &TestServer) -> String {
    let answer = server
        .admin(
            Method::POST,
            ORGS,
            SERVER_TOKEN,
            Some(json!({"id": "beta", "display_name": "Beta"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body["admin_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_api_requires_a_known_bearer_token() {
    let server = spawn().await;
    for (method, path) in [
        (Method::GET, ORGS),
        (Method::GET, ACME),
        (Method::GET, "/api/v1/organizations/acme/clients"),
        (Method::POST, "/api/v1/organizations/acme/keys/rotate"),
        (Method::DELETE, ACME),
    ] {
        let answer = server.admin_raw(method.clone(), path, None, None).await;
        answer.assert_error(401, "unauthorized", "missing admin token");
        assert_eq!(
            answer.headers["www-authenticate"], "Bearer realm=\"clavex-admin\"",
            "{method} {path}"
        );
        let answer = server
            .admin(method.clone(), path, "clx_not_a_real_token", None)
            .await;
        answer.assert_error(401, "unauthorized", "unknown admin token");
        assert!(answer.headers.contains_key("www-authenticate"));
    }
    // Not a Bearer credential at all.
    let answer = server
        .http
        .get(server.url(ORGS))
        .basic_auth("admin", Some(ORG_TOKEN))
        .send()
        .await
        .unwrap();
    let answer = Answer::from(answer).await;
    answer.assert_error(401, "unauthorized", "Bearer <admin token>");
    // The description never echoes the presented token.
    let answer = server
        .admin(Method::GET, ORGS, "clx_secret_guess_123", None)
        .await;
    assert!(!answer.text.contains("clx_secret_guess_123"));
    // Nothing changed for an unauthenticated delete.
    let acme = server.admin(Method::GET, ACME, ORG_TOKEN, None).await;
    assert_eq!(acme.status, StatusCode::OK);
}

#[tokio::test]
async fn organization_tokens_are_confined_to_their_organization() {
    let server = spawn().await;
    let beta_token = create_beta(&server).await;
    assert!(beta_token.starts_with("clx_"), "{beta_token}");
    assert_ne!(beta_token, ORG_TOKEN);

    // acme's token on beta, and beta's on acme: 403.
    for (token, org) in [(ORG_TOKEN, "beta"), (beta_token.as_str(), "acme")] {
        for (method, path, body) in [
            (Method::GET, format!("{ORGS}/{org}"), None),
            (
                Method::PATCH,
                format!("{ORGS}/{org}"),
                Some(json!({"display_name": "Pwned"})),
            ),
            (Method::GET, format!("{ORGS}/{org}/clients"), None),
            (
                Method::POST,
                format!("{ORGS}/{org}/clients"),
                Some(cc_client_body(&ClientKey::es256())),
            ),
            (Method::GET, format!("{ORGS}/{org}/users"), None),
            (Method::GET, format!("{ORGS}/{org}/keys"), None),
            (Method::POST, format!("{ORGS}/{org}/keys/rotate"), None),
        ] {
            let answer = server.admin(method.clone(), &path, token, body).await;
            answer.assert_error(
                403,
                "forbidden",
                "this admin token belongs to another organization",
            );
        }
    }
    let beta = server
        .admin(
            Method::GET,
            "/api/v1/organizations/beta",
            SERVER_TOKEN,
            None,
        )
        .await;
    assert_eq!(beta.body["display_name"], "Beta");

    // beta's token works on beta.
    let own = server
        .admin(Method::GET, "/api/v1/organizations/beta", &beta_token, None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(own.body["id"], "beta");
    let key = ClientKey::es256();
    let client = server
        .register_client_in("beta", &beta_token, cc_client_body(&key))
        .await;
    assert!(
        client["client_id"]
            .as_str()
            .unwrap()
            .starts_with("clavex_fapi_")
    );

    // An organization token lists only its own organization.
    let list = server.admin(Method::GET, ORGS, &beta_token, None).await;
    assert_eq!(list.status, StatusCode::OK);
    let ids: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["beta"]);
    let list = server.admin(Method::GET, ORGS, SERVER_TOKEN, None).await;
    let ids: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "beta"]);

    // Organization tokens cannot create or delete organizations, not even their own.
    for token in [ORG_TOKEN, beta_token.as_str()] {
        let answer = server
            .admin(Method::POST, ORGS, token, Some(json!({"id": "gamma"})))
            .await;
        answer.assert_error(403, "forbidden", "only the server admin token may do this");
        for org in ["acme", "beta"] {
            let answer = server
                .admin(Method::DELETE, &format!("{ORGS}/{org}"), token, None)
                .await;
            answer.assert_error(403, "forbidden", "only the server admin token may do this");
        }
    }
    let gamma = server
        .admin(
            Method::GET,
            "/api/v1/organizations/gamma",
            SERVER_TOKEN,
            None,
        )
        .await;
    gamma.assert_error(404, "not_found", "organization gamma");

    // The server token manages every organization.
    for org in ["acme", "beta"] {
        let answer = server
            .admin(
                Method::GET,
                &format!("{ORGS}/{org}/clients"),
                SERVER_TOKEN,
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let registered = server
        .register_client_in("acme", SERVER_TOKEN, cc_client_body(&ClientKey::es256()))
        .await;
    assert!(registered["client_id"].is_string());
}

#[tokio::test]
async fn organization_ids_are_checked_and_unique() {
    let server = spawn().await;
    let too_long = "a".repeat(64);
    for id in [
        "API",
        "-x",
        "api",
        "healthz",
        "a_b",
        "a.b",
        "",
        too_long.as_str(),
    ] {
        let answer = server
            .admin(Method::POST, ORGS, SERVER_TOKEN, Some(json!({"id": id})))
            .await;
        answer.assert_error(
            400,
            "invalid_request",
            "organization id must be 1-63 characters of a-z, 0-9 and '-'",
        );
    }
    let ok_63 = "b".repeat(63);
    let answer = server
        .admin(Method::POST, ORGS, SERVER_TOKEN, Some(json!({"id": ok_63})))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["organization"]["display_name"], ok_63.as_str());

    let answer = server
        .admin(Method::POST, ORGS, SERVER_TOKEN, Some(json!({})))
        .await;
    answer.assert_error(400, "invalid_request", "id is required");
    let answer = server
        .admin(
            Method::POST,
            ORGS,
            SERVER_TOKEN,
            Some(json!({"id": "delta", "display_name": 7})),
        )
        .await;
    answer.assert_error(400, "invalid_request", "display_name must be a string");
    let long_name = "N".repeat(201);
    for name in ["", long_name.as_str(), "two\nlines"] {
        let answer = server
            .admin(
                Method::POST,
                ORGS,
                SERVER_TOKEN,
                Some(json!({"id": "delta", "display_name": name})),
            )
            .await;
        answer.assert_error(
            400,
            "invalid_request",
            "display_name must be a string of 1-200 characters",
        );
        let answer = server
            .admin(
                Method::PATCH,
                ACME,
                ORG_TOKEN,
                Some(json!({"display_name": name})),
            )
            .await;
        answer.assert_error(
            400,
            "invalid_request",
            "display_name must be a string of 1-200 characters",
        );
    }
    let delta = server
        .admin(
            Method::GET,
            "/api/v1/organizations/delta",
            SERVER_TOKEN,
            None,
        )
        .await;
    delta.assert_error(404, "not_found", "organization delta");

    create_beta(&server).await;
    for id in ["beta", "acme"] {
        let answer = server
            .admin(Method::POST, ORGS, SERVER_TOKEN, Some(json!({"id": id})))
            .await;
        answer.assert_error(
            409,
            "conflict",
            &format!("organization {id} already exists"),
        );
    }
}

#[tokio::test]
async fn a_new_organization_is_a_separate_issuer_with_its_own_keys() {
    let server = spawn().await;
    let answer = server
        .admin(
            Method::POST,
            ORGS,
            SERVER_TOKEN,
            Some(json!({"id": "beta", "display_name": "Beta"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let org = &answer.body["organization"];
    let beta_issuer = format!("{}/beta", server.base);
    assert_eq!(org["id"], "beta");
    assert_eq!(org["display_name"], "Beta");
    assert_eq!(org["issuer"], beta_issuer.as_str());
    assert_eq!(org["settings"]["profile"], "fapi2");
    assert_eq!(org["settings"]["scopes"], json!(["accounts", "payments"]));
    let beta_token = answer.body["admin_token"].as_str().unwrap().to_owned();

    let discovery = server
        .get("/.well-known/oauth-authorization-server/beta")
        .await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert_eq!(discovery.body["issuer"], beta_issuer.as_str());
    assert_eq!(
        discovery.body["token_endpoint"],
        format!("{beta_issuer}/token")
    );

    let beta_jwks = server.get("/beta/jwks").await;
    assert_eq!(beta_jwks.status, StatusCode::OK);
    let mut algs: Vec<&str> = beta_jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "PS256"]);
    let acme_jwks = server.get("/acme/jwks").await;
    let kids = |v: &Value| -> Vec<String> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    for kid in kids(&beta_jwks.body) {
        assert!(!kids(&acme_jwks.body).contains(&kid), "kid {kid} shared");
    }

    // A client of beta gets a token from beta, issued and signed by beta.
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let beta_client = server
        .register_client_in("beta", &beta_token, cc_client_body(&key))
        .await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = server
        .client_credentials_at("beta", &beta_client, &key, &dpop, &[("scope", "payments")])
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let at = token.body["access_token"].as_str().unwrap();
    let claims = verify_with_jwks(at, &beta_jwks.body).unwrap();
    assert_eq!(claims["iss"], beta_issuer.as_str());
    assert_eq!(claims["aud"], format!("{beta_issuer}/api"));
    assert_eq!(claims["client_id"], beta_client.as_str());
    assert!(verify_with_jwks(at, &acme_jwks.body).is_err());

    // Tenant isolation: an acme client is unknown at beta, and a beta client at acme.
    let acme_key = ClientKey::es256();
    let acme_client = server.client_credentials_client(&acme_key).await;
    let answer = server
        .client_credentials_at("beta", &acme_client, &acme_key, &dpop, &[])
        .await;
    answer.assert_error(401, "invalid_client", "unknown client");
    let answer = server
        .client_credentials_at("acme", &beta_client, &key, &dpop, &[])
        .await;
    answer.assert_error(401, "invalid_client", "unknown client");
    // An acme assertion (audience acme) replayed at beta is no better.
    let assertion = acme_key.assertion(&acme_client, &server.issuer, server.now());
    let proof = dpop.dpop_proof("POST", &format!("{beta_issuer}/token"), server.now());
    let answer = Answer::from(
        server
            .http
            .post(format!("{beta_issuer}/token"))
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.assert_error(401, "invalid_client", "");
}

#[tokio::test]
async fn settings_can_be_read_and_changed() {
    let server = spawn().await;
    let org = server.admin(Method::GET, ACME, ORG_TOKEN, None).await;
    assert_eq!(org.status, StatusCode::OK, "{}", org.text);
    assert_eq!(org.headers["cache-control"], "no-store");
    assert_eq!(org.body["id"], "acme");
    assert_eq!(org.body["issuer"], server.issuer.as_str());
    assert_eq!(
        org.body["settings"],
        json!({"profile": "fapi2", "scopes": ["accounts", "payments"], "resources": [],
               "access_token_lifetime": 300, "dpop_nonce_required": false,
               "accept_legacy_assertion_audience": false,
               "dynamic_registration": "initial_access_token",
               "authorization_details_types": ["payment_initiation", "account_information"]})
    );

    let patched = server
        .admin(
            Method::PATCH,
            ACME,
            ORG_TOKEN,
            Some(json!({
                "display_name": "ACME Bank",
                "scopes": ["accounts", "payments", "fx:read"],
                "resources": ["https://api.acme.example/payments"],
                "access_token_lifetime": 120,
                "default_audience": "https://api.acme.example/",
                "accept_legacy_assertion_audience": true,
            })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let expected = json!({"profile": "fapi2", "scopes": ["accounts", "payments", "fx:read"],
        "default_audience": "https://api.acme.example/",
        "resources": ["https://api.acme.example/payments"], "access_token_lifetime": 120,
        "dpop_nonce_required": false, "accept_legacy_assertion_audience": true,
        "dynamic_registration": "initial_access_token",
        "authorization_details_types": ["payment_initiation", "account_information"]});
    assert_eq!(patched.body["settings"], expected);
    assert_eq!(patched.body["display_name"], "ACME Bank");
    let got = server.admin(Method::GET, ACME, ORG_TOKEN, None).await;
    assert_eq!(got.body["settings"], expected);
    assert_eq!(got.body["display_name"], "ACME Bank");

    // The `settings` wrapper is accepted too.
    let patched = server
        .admin(
            Method::PATCH,
            ACME,
            ORG_TOKEN,
            Some(json!({"settings": {"scopes": ["accounts", "payments", "fx:read", "cards"]}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(
        patched.body["settings"]["scopes"],
        json!(["accounts", "payments", "fx:read", "cards"])
    );
    assert_eq!(patched.body["settings"]["access_token_lifetime"], 120);

    // The next token follows the new settings at once.
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    let token = server
        .client_credentials(&client_id, &key, &dpop, &[("scope", "fx:read")])
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    assert_eq!(token.body["expires_in"], 120);
    assert_eq!(token.body["scope"], "fx:read");
    let (_, claims) = decode_unverified(token.body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(claims["aud"], "https://api.acme.example/");

    // A registered resource is a valid audience; an unknown one is not.
    let token = server
        .client_credentials(
            &client_id,
            &key,
            &dpop,
            &[("resource", "https://api.acme.example/payments")],
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let (_, claims) = decode_unverified(token.body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://api.acme.example/payments");
    let token = server
        .client_credentials(
            &client_id,
            &key,
            &dpop,
            &[("resource", "https://api.acme.example/other")],
        )
        .await;
    token.assert_error(400, "invalid_target", "not registered");

    // Legacy assertion audience: the token endpoint URL is accepted while the switch is on...
    let legacy = |now| {
        let assertion = key.assertion(&client_id, &server.token_endpoint, now);
        let proof = dpop.dpop_proof("POST", &server.token_endpoint, now);
        (assertion, proof)
    };
    let (assertion, proof) = legacy(server.now());
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let answer = server.token_request(&form, &[&proof]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // ... and refused once it is off again (FAPI 2.0 final: the issuer only).
    let patched = server
        .admin(
            Method::PATCH,
            ACME,
            ORG_TOKEN,
            Some(json!({"accept_legacy_assertion_audience": false, "default_audience": null})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert!(patched.body["settings"].get("default_audience").is_none());
    let (assertion, proof) = legacy(server.now());
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let answer = server.token_request(&form, &[&proof]).await;
    answer.assert_error(401, "invalid_client", "");
    // The default audience is back to `{issuer}/api`.
    let token = server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let (_, claims) = decode_unverified(token.body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], format!("{}/api", server.issuer));
    // Discovery shows the new scopes.
    let discovery = server
        .get("/.well-known/oauth-authorization-server/acme")
        .await;
    let advertised = discovery.body["scopes_supported"].as_array().unwrap();
    for scope in ["accounts", "cards", "fx:read", "payments"] {
        assert!(
            advertised.contains(&json!(scope)),
            "{scope}: {}",
            discovery.text
        );
    }
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let server = spawn().await;
    let before = server.admin(Method::GET, ACME, ORG_TOKEN, None).await.body;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"colour": "blue"}), "unknown field `colour`"),
        (
            json!({"settings": {"colour": "blue"}}),
            "unknown field `colour`",
        ),
        (
            json!({"scopes": ["accounts", "two words"]}),
            "scope \"two words\" is not a valid scope token (RFC 6749 §3.3)",
        ),
        (
            json!({"scopes": ["acc\"ounts"]}),
            "is not a valid scope token",
        ),
        (json!({"scopes": [""]}), "is not a valid scope token"),
        (
            json!({"scopes": ["accounts", "openid"]}),
            "openid is an OpenID Connect scope and is always available; list only API scopes",
        ),
        (json!({"scopes": "accounts"}), "settings: invalid type"),
        (
            json!({"resources": ["not a uri"]}),
            "resource not a uri must be an absolute URI",
        ),
        (
            json!({"resources": ["https://api.example/#frag"]}),
            "resource https://api.example/#frag must not contain a fragment",
        ),
        (
            json!({"default_audience": "relative/path"}),
            "default_audience relative/path must be an absolute URI",
        ),
        (
            json!({"default_audience": "https://api.example/#x"}),
            "default_audience https://api.example/#x must not contain a fragment",
        ),
        (
            json!({"access_token_lifetime": 5}),
            "access_token_lifetime must be between 30 and 86400 seconds",
        ),
        (
            json!({"access_token_lifetime": 86401}),
            "access_token_lifetime must be between 30 and 86400 seconds",
        ),
        (
            json!({"access_token_lifetime": -1}),
            "settings: invalid value",
        ),
        (
            json!({"dpop_nonce_required": "yes"}),
            "settings: invalid type",
        ),
        (json!({"profile": "fapi1"}), "unknown variant `fapi1`"),
        (json!({"id": "other"}), "id cannot be changed"),
        (
            json!({"issuer": "https://evil.example"}),
            "issuer cannot be changed",
        ),
        (
            json!({"display_name": ""}),
            "display_name must be a string of 1-200 characters",
        ),
        (json!({"settings": []}), "settings must be an object"),
        (json!(["scopes"]), "body must be a JSON object"),
    ];
    for (patch, fragment) in cases {
        let answer = server
            .admin(Method::PATCH, ACME, ORG_TOKEN, Some(patch.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{patch}: {}",
            answer.text
        );
        assert_eq!(answer.error(), "invalid_request", "{patch}");
        assert!(
            answer.description().contains(fragment),
            "{patch}: {:?} should contain {fragment:?}",
            answer.description()
        );
    }
    let answer = server
        .admin_raw(
            Method::PATCH,
            ACME,
            Some(ORG_TOKEN),
            Some(("application/json", "scopes=accounts")),
        )
        .await;
    answer.assert_error(400, "invalid_request", "body is not valid JSON");
    let after = server.admin(Method::GET, ACME, ORG_TOKEN, None).await.body;
    assert_eq!(before, after);
    assert_eq!(after["settings"]["profile"], "fapi2");
    // Organization settings given at creation are checked by the same rules.
    let answer = server
        .admin(
            Method::POST,
            ORGS,
            SERVER_TOKEN,
            Some(json!({"id": "beta", "settings": {"scopes": ["openid"]}})),
        )
        .await;
    answer.assert_error(400, "invalid_request", "openid is an OpenID Connect scope");
    let answer = server
        .admin(
            Method::POST,
            ORGS,
            SERVER_TOKEN,
            Some(
                json!({"id": "beta", "settings": {"access_token_lifetime": 600, "scopes": ["x"]}}),
            ),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(
        answer.body["organization"]["settings"]["access_token_lifetime"],
        600
    );
    assert_eq!(
        answer.body["organization"]["settings"]["scopes"],
        json!(["x"])
    );
}

#[tokio::test]
async fn deleting_an_organization_removes_its_issuer_clients_and_tokens() {
    let server = spawn().await;
    let beta_token = create_beta(&server).await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server
        .register_client_in("beta", &beta_token, cc_client_body(&key))
        .await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Warm every cache of the node first.
    let token = server
        .client_credentials_at("beta", &client_id, &key, &dpop, &[])
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    assert_eq!(
        server
            .get("/beta/.well-known/openid-configuration")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(server.get("/beta/jwks").await.status, StatusCode::OK);

    let deleted = server
        .admin(
            Method::DELETE,
            "/api/v1/organizations/beta",
            SERVER_TOKEN,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    for path in [
        "/beta/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/beta",
        "/beta/jwks",
    ] {
        let answer = server.get(path).await;
        answer.assert_error(404, "not_found", "organization beta");
    }
    let token = server
        .client_credentials_at("beta", &client_id, &key, &dpop, &[])
        .await;
    token.assert_error(404, "not_found", "organization beta");
    // Its admin token died with it.
    let answer = server
        .admin(Method::GET, "/api/v1/organizations/beta", &beta_token, None)
        .await;
    answer.assert_error(401, "unauthorized", "unknown admin token");
    let answer = server
        .admin(
            Method::DELETE,
            "/api/v1/organizations/beta",
            SERVER_TOKEN,
            None,
        )
        .await;
    answer.assert_error(404, "not_found", "organization beta");
    assert!(server.store.list_clients("beta").await.unwrap().is_empty());
    assert!(
        server
            .store
            .list_signing_keys("beta")
            .await
            .unwrap()
            .is_empty()
    );

    // The id is free again, for a new organization with new keys and no old clients.
    let new_token = create_beta(&server).await;
    assert_ne!(new_token, beta_token);
    let token = server
        .client_credentials_at("beta", &client_id, &key, &dpop, &[])
        .await;
    token.assert_error(401, "invalid_client", "unknown client");
    // acme was not touched.
    let acme = server.admin(Method::GET, ACME, ORG_TOKEN, None).await;
    assert_eq!(acme.status, StatusCode::OK);
}

#[tokio::test]
async fn openapi_document_describes_the_admin_api() {
    let server = spawn().await;
    let answer = server.get("/api/v1/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(answer.body["openapi"], "3.1.0");
    assert!(answer.body["info"]["title"].is_string());
    let paths = answer.body["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/organizations", &["get", "post"][..]),
        ("/api/v1/organizations/{org}", &["get", "patch", "delete"]),
        ("/api/v1/organizations/{org}/clients", &["get", "post"]),
        (
            "/api/v1/organizations/{org}/clients/{client_id}",
            &["get", "put", "patch", "delete"],
        ),
        ("/api/v1/organizations/{org}/users", &["get", "post"]),
        (
            "/api/v1/organizations/{org}/users/{user_id}",
            &["get", "patch", "delete"],
        ),
        ("/api/v1/organizations/{org}/keys", &["get"]),
        ("/api/v1/organizations/{org}/keys/rotate", &["post"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} is not documented"
            );
        }
    }
    assert_eq!(
        answer.body["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
    // Every $ref points at something that exists.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap().to_owned());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&answer.body, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(answer.body.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

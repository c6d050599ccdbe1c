//! Persistence: a node stopped and started again on the same store finds its organizations, clients,
//! users, keys and admin tokens; signing keys are sealed at rest under the master key.

use crate::org;
use clavex_testkit::*;
use reqwest::Method;
use serde_json::json;

/// The master key the testkit configures.
const TEST_MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

#[tokio::test]
async fn a_restarted_node_keeps_clients_users_keys_and_tokens() {
    const HOST: &str = "id.persist.test";
    let server = spawn_public(SpawnOptions::default(), HOST).await;
    let client_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;
    let setup = server
        .register_client(json!({
            "client_name": "PSD2 TPP Client",
            "redirect_uris": ["https://tpp.example.com/callback"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://tpp.example.com/.well-known/jwks.json",
            "require_pushed_authorization_requests": true,
            "require_dpop": true,
            "authorization_signed_response_alg": "ES256",
        }))
        .await;
    let user = server
        .admin(
            Method::POST,
            "/api/v1/organizations/acme/users",
            ORG_TOKEN,
            Some(
                json!({"username": "alice", "password": "correct horse battery",
                        "email": "alice@acme.example", "given_name": "Alice"}),
            ),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.text);
    let beta = server
        .admin(
            Method::POST,
            "/api/v1/organizations",
            SERVER_TOKEN,
            Some(json!({"id": "beta", "display_name": "Beta"})),
        )
        .await;
    assert_eq!(beta.status, StatusCode::CREATED, "{}", beta.text);
    let beta_token = beta.body["admin_token"].as_str().unwrap().to_owned();
    let patched = server
        .admin(
            Method::PATCH,
            "/api/v1/organizations/acme",
            ORG_TOKEN,
            Some(json!({"access_token_lifetime": 240, "scopes": ["accounts", "payments", "fx"]})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let jwks_before = server.get("/acme/jwks").await.body;
    let keys_before = server.store.list_signing_keys("acme").await.unwrap();
    let dpop = ClientKey::es256();
    let first = server
        .client_credentials(&client_id, &client_key, &dpop, &[])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first_token = first.body["access_token"].as_str().unwrap().to_owned();
    let clients_before = server
        .admin(
            Method::GET,
            "/api/v1/organizations/acme/clients",
            ORG_TOKEN,
            None,
        )
        .await
        .body;

    // Stop the node and start another on the same data (new connections where the backend allows).
    let stopped = server.stop().await;
    let location = stopped.store_location.clone().expect("store location");
    drop(stopped.store);
    let store = open_store(&location).await;
    let server = spawn_public(
        SpawnOptions {
            store: Some(store),
            data_dir: Some(stopped.data_dir),
            ..SpawnOptions::default()
        },
        HOST,
    )
    .await;

    // Clients.
    let clients_after = server
        .admin(
            Method::GET,
            "/api/v1/organizations/acme/clients",
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        clients_after.status,
        StatusCode::OK,
        "{}",
        clients_after.text
    );
    assert_eq!(clients_after.body, clients_before);
    let got = server
        .admin(
            Method::GET,
            &format!(
                "/api/v1/organizations/acme/clients/{}",
                setup["client_id"].as_str().unwrap()
            ),
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(got.body, setup);

    // Users, with their passwords.
    let users = server
        .admin(
            Method::GET,
            "/api/v1/organizations/acme/users",
            ORG_TOKEN,
            None,
        )
        .await;
    assert_eq!(users.body, json!([user.body]));
    assert!(
        server
            .engine
            .verify_user_password(&org("acme"), "alice@acme.example", "correct horse battery")
            .await
            .unwrap()
            .is_some()
    );

    // Keys: the same kids and the same public keys; the old token still verifies.
    let keys_after = server.store.list_signing_keys("acme").await.unwrap();
    assert_eq!(keys_after, keys_before);
    let jwks_after = server.get("/acme/jwks").await.body;
    let mut a: Vec<String> = jwks_before["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    let mut b: Vec<String> = jwks_after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let old_claims = verify_with_jwks(&first_token, &jwks_after).unwrap();
    assert_eq!(old_claims["iss"], server.issuer.as_str());

    // Settings, and a new token signed by the same key.
    let org = server
        .admin(Method::GET, "/api/v1/organizations/acme", ORG_TOKEN, None)
        .await;
    assert_eq!(org.body["settings"]["access_token_lifetime"], 240);
    let second = server
        .client_credentials(&client_id, &client_key, &dpop, &[("scope", "fx")])
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["expires_in"], 240);
    let second_token = second.body["access_token"].as_str().unwrap();
    assert_eq!(
        decode_unverified(second_token).0["kid"],
        decode_unverified(&first_token).0["kid"]
    );
    verify_with_jwks(second_token, &jwks_after).unwrap();

    // The generated organization token survived too (stored hashed).
    let beta = server
        .admin(Method::GET, "/api/v1/organizations/beta", &beta_token, None)
        .await;
    assert_eq!(beta.status, StatusCode::OK, "{}", beta.text);
    assert_eq!(beta.body["display_name"], "Beta");

    let orgs = server.store.list_organizations().await.unwrap();
    assert_eq!(
        orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["acme", "beta"]
    );
}

/// A token request with `assertion` and a fresh DPoP proof.
async fn send_assertion(server: &TestServer, assertion: &str, dpop: &ClientKey) -> Answer {
    let proof = dpop.dpop_proof("POST", &server.token_endpoint, server.now());
    server
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ],
            &[&proof],
        )
        .await
}

#[tokio::test]
async fn replayed_assertions_are_refused_after_a_restart() {
    // A stable public URL, so the restarted node has the same issuer (as a real restart would).
    const HOST: &str = "id.restart.test";
    let server = spawn_public(SpawnOptions::default(), HOST).await;
    let client_key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;
    let assertion = client_key.assertion(&client_id, &server.issuer, server.now());
    let first = send_assertion(&server, &assertion, &dpop).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let replay = send_assertion(&server, &assertion, &dpop).await;
    replay.assert_error(
        401,
        "invalid_client",
        "client_assertion jti has already been used",
    );
    let issuer = server.issuer.clone();

    let stopped = server.stop().await;
    let location = stopped.store_location.clone().expect("store location");
    drop(stopped.store);
    let server = spawn_public(
        SpawnOptions {
            store: Some(open_store(&location).await),
            data_dir: Some(stopped.data_dir),
            ..SpawnOptions::default()
        },
        HOST,
    )
    .await;
    assert_eq!(server.issuer, issuer);
    // The single-use record lives in the store, so the restarted node refuses the replay...
    let replay = send_assertion(&server, &assertion, &dpop).await;
    replay.assert_error(
        401,
        "invalid_client",
        "client_assertion jti has already been used",
    );
    // ... and accepts a fresh assertion of the same client.
    let fresh = client_key.assertion(&client_id, &server.issuer, server.now());
    let answer = send_assertion(&server, &fresh, &dpop).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn signing_keys_are_sealed_under_the_master_key() {
    let server = spawn().await;
    let records = server.store.list_signing_keys("acme").await.unwrap();
    assert_eq!(records.len(), 3);
    let master = clavex_core::master_key::MasterKey::parse(TEST_MASTER_KEY).unwrap();
    let keys = clavex_core::keyring::load(&master, &records, server.now()).unwrap();
    assert_eq!(keys.signing.len(), 3);
    for record in &records {
        let alg = clavex_jose::Algorithm::parse(&record.alg).unwrap();
        let signer = keys.signer(alg).unwrap();
        assert_eq!(signer.kid(), record.kid);
        let der = signer.to_pkcs8().unwrap();
        // Neither the whole PKCS#8 document nor any 16-byte run of it is in the stored bytes.
        let sealed = &record.sealed_private_key;
        assert!(sealed.len() >= der.len());
        for window in der.windows(16) {
            assert!(
                !sealed.windows(16).any(|w| w == window),
                "{} key stored in the clear",
                record.alg
            );
        }
        // The stored public key is the signer's.
        let public: serde_json::Value = serde_json::from_str(&record.public_jwk_json).unwrap();
        assert_eq!(public, signer.public_jwk());
    }
    // Another master key cannot open them.
    let other = clavex_core::master_key::MasterKey::parse(&"ab".repeat(32)).unwrap();
    let err = clavex_core::keyring::load(&other, &records, server.now())
        .err()
        .expect("a wrong master key must not open the keys");
    assert!(
        err.to_string().contains("master key is not the one"),
        "{err}"
    );
    // A sealed key moved to another key slot (other kid) does not open either.
    let mut swapped = records.clone();
    let first_sealed = swapped[0].sealed_private_key.clone();
    swapped[0].sealed_private_key = swapped[1].sealed_private_key.clone();
    swapped[1].sealed_private_key = first_sealed;
    assert!(clavex_core::keyring::load(&master, &swapped, server.now()).is_err());

    // A node started with another master key on the same store cannot sign.
    let stopped = server.stop().await;
    let config = clavex::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: stopped.data_dir.path().to_path_buf(),
        master_key: Some("ab".repeat(32)),
        ..clavex::config::Config::default()
    };
    let engine = clavex::app::build_engine_with_store(
        &config,
        std::sync::Arc::new(clavex_core::clock::SystemClock),
        stopped.store.clone(),
    )
    .unwrap();
    let err = engine
        .org_keys(&org("acme"))
        .await
        .err()
        .expect("wrong master key");
    assert!(err.to_string().contains("could not be decrypted"), "{err}");
}

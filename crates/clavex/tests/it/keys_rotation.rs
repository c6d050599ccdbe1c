//! Signing-key rotation: new keys sign at once, retired keys stay published until the tokens they
//! signed have expired (plus a grace period), then disappear.

use crate::org;
use clavex_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/organizations/acme/keys";
const ROTATE: &str = "/api/v1/organizations/acme/keys/rotate";
/// `clavex_core::policy::lifetimes::KEY_PUBLISH_GRACE_SECS`.
const GRACE: i64 = clavex_core::policy::lifetimes::KEY_PUBLISH_GRACE_SECS;

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn key_of<'a>(list: &'a Value, kid: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in {list}"))
}

fn active(list: &Value, alg: &str) -> String {
    let found: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg && k["status"] == "active")
        .collect();
    assert_eq!(found.len(), 1, "one active {alg} key: {list}");
    found[0]["kid"].as_str().unwrap().to_owned()
}

async fn token(server: &TestServer, client_id: &str, key: &ClientKey) -> String {
    let dpop = ClientKey::es256();
    let answer = server.client_credentials(client_id, key, &dpop, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

fn signing_kid(jwt: &str) -> String {
    decode_unverified(jwt).0["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotating_es256_switches_signing_and_keeps_the_old_key_published() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;

    let before = server.admin(Method::GET, KEYS, ORG_TOKEN, None).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let old_es = active(&before.body, "ES256");
    let old_ps = active(&before.body, "PS256");
    let old_ed = active(&before.body, "EdDSA");
    let old_token = token(&server, &client_id, &client_key).await;
    assert_eq!(signing_kid(&old_token), old_es);

    let rotated_at = server.now();
    let rotated = server
        .admin(
            Method::POST,
            ROTATE,
            ORG_TOKEN,
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_es = active(&rotated.body, "ES256");
    assert_ne!(new_es, old_es);
    // Only ES256 rotated.
    assert_eq!(active(&rotated.body, "PS256"), old_ps);
    assert_eq!(active(&rotated.body, "EdDSA"), old_ed);
    let retired = key_of(&rotated.body, &old_es);
    assert_eq!(retired["status"], "retired");
    assert_eq!(retired["retired_at"], rotated_at);
    // The default token lifetime (300 s) plus the grace for verifier caches.
    let publish_until = retired["publish_until"].as_i64().unwrap();
    assert_eq!(publish_until, rotated_at + 86_400 + GRACE);
    assert!(
        key_of(&rotated.body, &new_es)
            .get("publish_until")
            .is_none()
    );
    assert!(key_of(&rotated.body, &new_es).get("retired_at").is_none());

    // The JWKS has both ES256 keys; the old token still verifies with it.
    let jwks = server.get("/acme/jwks").await.body;
    let published = kids(&jwks);
    assert_eq!(published.len(), 4, "{jwks}");
    assert!(published.contains(&old_es) && published.contains(&new_es));
    let claims = verify_with_jwks(&old_token, &jwks).unwrap();
    assert_eq!(claims["iss"], server.issuer.as_str());

    // The next token on this node is signed with the new key at once (the rotation dropped the
    // node's key cache), and verifies with the same JWKS.
    let new_token = token(&server, &client_id, &client_key).await;
    assert_eq!(signing_kid(&new_token), new_es);
    verify_with_jwks(&new_token, &jwks).unwrap();

    // The store agrees.
    let records = server.store.list_signing_keys("acme").await.unwrap();
    assert_eq!(records.len(), 4);
    let old_record = records.iter().find(|r| r.kid == old_es).unwrap();
    assert_eq!(old_record.status, clavex_store::KeyStatus::Retired);
    assert_eq!(old_record.publish_until, Some(publish_until));

    // Just before publish_until the old key is still published.
    server.clock.set(publish_until - 1);
    let listed = server
        .admin(
            Method::POST,
            ROTATE,
            ORG_TOKEN,
            Some(json!({"alg": "PS256"})),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert!(kids(&server.get("/acme/jwks").await.body).contains(&old_es));

    // Past publish_until it disappears from the JWKS (a later rotation reloads the node's keys)...
    server.clock.set(publish_until + 1);
    let rotated = server
        .admin(
            Method::POST,
            ROTATE,
            ORG_TOKEN,
            Some(json!({"alg": "EdDSA"})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert!(
        rotated
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != old_es.as_str()),
        "{}",
        rotated.text
    );
    let jwks = server.get("/acme/jwks").await.body;
    assert!(!kids(&jwks).contains(&old_es), "{jwks}");
    assert!(kids(&jwks).contains(&new_es));
    assert!(verify_with_jwks(&old_token, &jwks).is_err());
    verify_with_jwks(&new_token, &jwks).unwrap();
    // ... and the sweeper's purge deletes it from the store (only it: the other retired keys are
    // still within their own publication window).
    let purged = server
        .store
        .purge_unpublished_keys(server.now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let listed = server.admin(Method::GET, KEYS, ORG_TOKEN, None).await;
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != old_es.as_str())
    );
    assert_eq!(active(&listed.body, "ES256"), new_es);
    assert_ne!(active(&listed.body, "PS256"), old_ps);
    assert_ne!(active(&listed.body, "EdDSA"), old_ed);
}

#[tokio::test]
async fn retired_keys_stay_published_for_the_configured_token_lifetime() {
    let server = spawn().await;
    let patched = server
        .admin(
            Method::PATCH,
            "/api/v1/organizations/acme",
            ORG_TOKEN,
            Some(json!({"access_token_lifetime": 3600})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let before = server.admin(Method::GET, KEYS, ORG_TOKEN, None).await;
    let old_es = active(&before.body, "ES256");
    let now = server.now();
    let rotated = server
        .admin(
            Method::POST,
            ROTATE,
            ORG_TOKEN,
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        key_of(&rotated.body, &old_es)["publish_until"],
        now + 86_400 + GRACE,
        "the retired key outlives the longest lifetime a token may have been issued with"
    );
}

#[tokio::test]
async fn rotating_without_a_body_rotates_every_algorithm() {
    let server = spawn().await;
    let before = server.admin(Method::GET, KEYS, ORG_TOKEN, None).await.body;
    let old: Vec<String> = ["ES256", "PS256", "EdDSA"]
        .iter()
        .map(|alg| active(&before, alg))
        .collect();

    let rotated = server
        .admin_raw(Method::POST, ROTATE, Some(ORG_TOKEN), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(
        rotated.body.as_array().unwrap().len(),
        6,
        "{}",
        rotated.text
    );
    for (alg, old_kid) in ["ES256", "PS256", "EdDSA"].iter().zip(&old) {
        let new_kid = active(&rotated.body, alg);
        assert_ne!(&new_kid, old_kid);
        let retired = key_of(&rotated.body, old_kid);
        assert_eq!(retired["status"], "retired");
        assert!(retired["publish_until"].as_i64().unwrap() > server.now());
    }
    let jwks = server.get("/acme/jwks").await.body;
    assert_eq!(kids(&jwks).len(), 6);
    // Keys are valid for our own verifier.
    assert_eq!(
        clavex_jose::JwkSet::from_json(&jwks).unwrap().keys().len(),
        6
    );

    // `{}` and `{"alg": null}` mean the same.
    let rotated = server
        .admin(Method::POST, ROTATE, ORG_TOKEN, Some(json!({"alg": null})))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(rotated.body.as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn rotation_refuses_algorithms_outside_fapi() {
    let server = spawn().await;
    let before = server.store.list_signing_keys("acme").await.unwrap();
    for alg in ["RS256", "none", "HS256", "es256", "ES384"] {
        let answer = server
            .admin(Method::POST, ROTATE, ORG_TOKEN, Some(json!({"alg": alg})))
            .await;
        answer.assert_error(
            400,
            "invalid_request",
            &format!("algorithm {alg} is not allowed; use one of PS256, ES256, EdDSA"),
        );
    }
    let answer = server
        .admin(Method::POST, ROTATE, ORG_TOKEN, Some(json!({"alg": 256})))
        .await;
    answer.assert_error(400, "invalid_request", "alg must be a string");
    let answer = server
        .admin_raw(
            Method::POST,
            ROTATE,
            Some(ORG_TOKEN),
            Some(("application/json", "alg=ES256")),
        )
        .await;
    answer.assert_error(400, "invalid_request", "body is not valid JSON");
    let answer = server
        .admin(
            Method::POST,
            "/api/v1/organizations/nowhere/keys/rotate",
            SERVER_TOKEN,
            None,
        )
        .await;
    answer.assert_error(404, "not_found", "organization nowhere");
    // Nothing rotated.
    assert_eq!(
        server.store.list_signing_keys("acme").await.unwrap(),
        before
    );
}

#[tokio::test]
async fn key_listing_shows_public_parts_only() {
    let server = spawn().await;
    let answer = server.admin(Method::GET, KEYS, ORG_TOKEN, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let keys = answer.body.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let records = server.store.list_signing_keys("acme").await.unwrap();
    for key in keys {
        let obj = key.as_object().unwrap();
        let mut members: Vec<&str> = obj.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(
            members,
            ["alg", "created_at", "kid", "public_jwk", "status"],
            "{key}"
        );
        assert_eq!(key["status"], "active");
        let jwk = key["public_jwk"].as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!jwk.contains_key(private), "{private} in {key}");
        }
        assert_eq!(jwk["kid"], key["kid"]);
        assert_eq!(jwk["alg"], key["alg"]);
        clavex_jose::PublicKey::from_jwk(&key["public_jwk"]).unwrap();
        // Nothing of the sealed private key leaks into the listing.
        let record = records.iter().find(|r| r.kid == key["kid"]).unwrap();
        let sealed = b64(&record.sealed_private_key);
        assert!(!answer.text.contains(&sealed[..40]));
    }
    // The CLI's view (engine) is the same.
    let engine_view = server.engine.list_keys(&org("acme")).await.unwrap();
    assert_eq!(serde_json::to_value(&engine_view).unwrap(), answer.body);
}

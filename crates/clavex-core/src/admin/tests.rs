//! Admin operations report each successful change as one domain event, with the actor and the
//! peer, and without the secrets the change carried.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use clavex_store::sqlite::SqliteStore;
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::engine::EngineConfig;
use crate::events::capture;
use crate::ids::OrgId;
use crate::master_key::MasterKey;

async fn engine() -> Engine {
    Engine::new(
        Arc::new(SqliteStore::open_memory().await.unwrap()),
        Arc::new(ManualClock::new(1_700_000_000)),
        MasterKey::from_bytes(&[7; 32]).unwrap(),
        EngineConfig {
            public_url: "https://id.example.com".into(),
            jwks_fetch_allow: Vec::new(),
            cache_ttl: Duration::from_secs(5),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn each_admin_change_emits_its_event_without_secrets() {
    let engine = engine().await;
    let actor = AdminActor::ServerToken {
        token_id: AdminTokenId::of_token("clx_server-token"),
    };
    let connection = ConnectionFacts::plain("198.51.100.4".parse().unwrap());
    capture::start();

    let create = CreateOrganization::from_json(&json!({"id": "acme"})).unwrap();
    let (_, org_token) = engine
        .create_organization(create, &actor, &connection)
        .await
        .unwrap();
    let create = json!({"username": "alice", "password": "first-password-1"});
    let user = engine
        .create_user(
            &OrgId::parse("acme").unwrap(),
            CreateUser::from_json(&create).unwrap(),
            &actor,
            &connection,
        )
        .await
        .unwrap();
    let update = json!({"password": "second-password-2", "given_name": "Alice"});
    engine
        .patch_user(
            &OrgId::parse("acme").unwrap(),
            &user.user_id,
            UpdateUser::from_json(&update).unwrap(),
            &actor,
            &connection,
        )
        .await
        .unwrap();
    engine
        .rotate_keys(
            &OrgId::parse("acme").unwrap(),
            RotateKeys {
                alg: Some("ES256".into()),
            },
            &actor,
            &connection,
        )
        .await
        .unwrap();

    let events = capture::take();
    let changes: Vec<&str> = events
        .iter()
        .map(|e| e["change"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "organization_created",
            "user_created",
            "user_password_set",
            "signing_keys_rotated"
        ]
    );
    for event in &events {
        assert_eq!(event["event"], "admin_change");
        assert_eq!(event["actor"]["kind"], "server_token");
        assert_eq!(event["peer"], "198.51.100.4");
    }
    assert_eq!(
        events[0]["change"]["admin_token_id"],
        AdminTokenId::of_token(&org_token).as_str()
    );
    assert_eq!(
        events[2]["change"]["changed"],
        json!(["given_name", "password"])
    );
    assert_eq!(
        events[3]["change"]["activated"].as_array().unwrap().len(),
        1
    );
    assert_eq!(events[3]["change"]["retired"].as_array().unwrap().len(), 1);
    let text = serde_json::to_string(&events).unwrap();
    for secret in [
        "first-password-1",
        "second-password-2",
        org_token.as_str(),
        "clx_server-token",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn a_refused_change_emits_nothing() {
    let engine = engine().await;
    capture::start();
    let missing = engine
        .delete_user(
            &OrgId::parse("acme").unwrap(),
            "nobody",
            &AdminActor::Cli,
            &ConnectionFacts::loopback(),
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))));
    assert!(capture::take().is_empty());
}

#[test]
fn typed_bodies_keep_the_api_messages() {
    let message = |result: Result<UpdateUser>| match result {
        Err(Error::BadRequest(message)) => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(UpdateUser::from_json(&json!({"password": null}))),
        "password must be a string"
    );
    assert!(
        message(UpdateUser::from_json(&json!({"shoe_size": 44})))
            .starts_with("unknown user attribute shoe_size")
    );
    let patch = UpdateUser::from_json(&json!({"email": null, "locale": null})).unwrap();
    assert_eq!(patch.email, Some(None));
    assert_eq!(patch.claims["locale"], Value::Null);
    assert!(
        !format!(
            "{:?}",
            UpdateUser::from_json(&json!({"password": "hunter2-hunter2"})).unwrap()
        )
        .contains("hunter2")
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clavex_store::sqlite::SqliteStore;
use clavex_store::{
    ArtifactKind, ArtifactRecord, Consumed, FlowStore, OrganizationRecord, Store, conformance,
};

/// How many checks one `run_all` plus one `run_flow_all` run.
fn suite_size() -> usize {
    conformance::STORE_CHECKS.len() + conformance::FLOW_CHECKS.len()
}

/// Asserts that every listed check ran, and says how many (shown with `--nocapture`).
fn assert_ran(backend: &str, ran: usize, want: usize) {
    eprintln!("{backend}: {ran} conformance checks ran");
    assert_eq!(ran, want, "{backend}: every listed check must run");
}

fn file_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("clavex.db").display())
}

#[tokio::test]
async fn conformance_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(&dir)).await.unwrap();
    let mut ran = conformance::run_all(&store).await + conformance::run_flow_all(&store).await;
    // The suite makes its own ids, so it can run again on the same database.
    ran += conformance::run_all(&store).await + conformance::run_flow_all(&store).await;
    store.close().await;
    assert_ran("SQLite file", ran, 2 * suite_size());
}

#[tokio::test]
async fn conformance_memory() {
    let store = SqliteStore::open_memory().await.unwrap();
    let mut ran = conformance::run_all(&store).await + conformance::run_flow_all(&store).await;
    ran += conformance::run_all(&store).await + conformance::run_flow_all(&store).await;
    assert_ran("SQLite memory", ran, 2 * suite_size());
}

#[tokio::test]
async fn memory_stores_are_private() {
    let a = SqliteStore::open_memory().await.unwrap();
    let b = SqliteStore::open_memory().await.unwrap();
    assert!(a.record_once("ns", "id", 100, 0).await.unwrap());
    assert!(b.record_once("ns", "id", 100, 0).await.unwrap());
}

#[tokio::test]
async fn file_store_keeps_data_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let org = OrganizationRecord {
        id: "restart".to_owned(),
        display_name: "Restart".to_owned(),
        settings_json: "{}".to_owned(),
        created_at: 1,
        updated_at: 2,
    };
    let code = ArtifactRecord {
        kind: ArtifactKind::AuthorizationCode,
        id_hash: vec![0, 1, 2, 255],
        org_id: "restart".to_owned(),
        client_id: Some("c".to_owned()),
        grant_id: Some("g".to_owned()),
        payload_json: "{}".to_owned(),
        created_at: 0,
        expires_at: 100,
        retain_until: 200,
        used_at: None,
    };

    {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.insert_organization(&org).await.unwrap();
        assert!(store.record_once("jti", "once", i64::MAX, 0).await.unwrap());
        store.insert_artifact(&code).await.unwrap();
        assert!(matches!(
            store
                .consume_artifact(code.kind, &code.id_hash, 10)
                .await
                .unwrap(),
            Consumed::Fresh(_)
        ));
        assert!(
            dir.path().join("clavex.db-wal").exists(),
            "a file database runs in WAL mode"
        );
        // Dropped without close(): nothing committed may be lost.
    }

    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(store.get_organization("restart").await.unwrap(), Some(org));
    assert!(
        !store.record_once("jti", "once", i64::MAX, 1).await.unwrap(),
        "a replay must be refused after a restart"
    );
    assert_eq!(
        store
            .consume_artifact(code.kind, &code.id_hash, 11)
            .await
            .unwrap(),
        Consumed::AlreadyUsed(ArtifactRecord {
            used_at: Some(10),
            ..code.clone()
        }),
        "a consumed artifact stays consumed after a restart"
    );
    store.close().await;

    // Migrations are not re-applied on an up-to-date database, and a third open still works.
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(store.list_organizations().await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn two_stores_on_one_file_share_single_use_records() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    let ran = conformance::run_across_all(&[&a, &b]).await;
    assert_ran(
        "SQLite file, two stores",
        ran,
        conformance::CROSS_STORE_CHECKS.len(),
    );
}

#[tokio::test]
async fn relative_file_url_and_bad_url() {
    let dir = tempfile::tempdir().unwrap();
    // `sqlite://` followed by an absolute path gives `sqlite:///...`; both spellings work.
    let url = format!("sqlite:{}", dir.path().join("other.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    assert!(dir.path().join("other.db").exists());

    // Missing parent directories are created.
    let nested = dir.path().join("a").join("b").join("nested.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", nested.display()))
        .await
        .unwrap();
    store.ping().await.unwrap();
    store.close().await;
    assert!(nested.exists());

    assert!(SqliteStore::connect("mysql://nope").await.is_err());
}

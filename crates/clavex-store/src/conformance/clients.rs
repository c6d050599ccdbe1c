//! Clients: per-organization registration records.

use super::fixtures::{client, org};
use super::{CheckResult, NOW, conflict, ensure_eq, not_found, ok, refused, unique_suffix};
use crate::{ClientRecord, Store};

pub async fn check_clients(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let org_a = org(&format!("conf-cli-a-{sfx}"));
    let org_b = org(&format!("conf-cli-b-{sfx}"));
    ok(store.insert_organization(&org_a).await, "insert org a")?;
    ok(store.insert_organization(&org_b).await, "insert org b")?;

    let c2 = client(&org_a.id, "client-2");
    let c1 = client(&org_a.id, "client-1");
    ok(store.insert_client(&c2).await, "insert client-2")?;
    ok(store.insert_client(&c1).await, "insert client-1")?;
    // The same client id in another organization is a different client.
    let b1 = ClientRecord {
        metadata_json: "{}".to_owned(),
        ..client(&org_b.id, "client-1")
    };
    ok(store.insert_client(&b1).await, "insert client-1 in org b")?;

    ensure_eq(
        ok(store.get_client(&org_a.id, "client-1").await, "get client")?,
        Some(c1.clone()),
        "client round-trips",
    )?;
    ensure_eq(
        ok(store.get_client(&org_b.id, "client-1").await, "get client")?,
        Some(b1.clone()),
        "client ids are scoped to their organization",
    )?;
    ensure_eq(
        ok(store.get_client(&org_a.id, "nope").await, "get missing")?,
        None,
        "missing client is absent",
    )?;
    ensure_eq(
        ok(store.list_clients(&org_a.id).await, "list clients")?,
        vec![c1.clone(), c2.clone()],
        "list_clients returns the organization's clients by client_id",
    )?;

    let duplicate = ClientRecord {
        metadata_json: r#"{"other":1}"#.to_owned(),
        ..c1.clone()
    };
    conflict(
        store.insert_client(&duplicate).await,
        "insert duplicate client",
    )?;
    refused(
        store
            .insert_client(&client(&format!("conf-cli-missing-{sfx}"), "c"))
            .await,
        "insert client of a missing org",
    )?;

    let update = ClientRecord {
        metadata_json: r#"{"client_name":"renamed"}"#.to_owned(),
        created_at: 7,
        updated_at: NOW + 50,
        ..c1.clone()
    };
    ok(store.update_client(&update).await, "update client")?;
    ensure_eq(
        ok(store.get_client(&org_a.id, "client-1").await, "get client")?,
        Some(ClientRecord {
            created_at: c1.created_at,
            ..update.clone()
        }),
        "update_client replaces metadata and updated_at only",
    )?;
    ensure_eq(
        ok(store.get_client(&org_b.id, "client-1").await, "get client")?,
        Some(b1.clone()),
        "update is scoped to the organization",
    )?;
    not_found(
        store.update_client(&client(&org_a.id, "missing")).await,
        "update missing client",
    )?;

    ok(
        store.delete_client(&org_a.id, "client-2").await,
        "delete client",
    )?;
    ensure_eq(
        ok(store.get_client(&org_a.id, "client-2").await, "get deleted")?,
        None,
        "deleted client is gone",
    )?;
    not_found(
        store.delete_client(&org_a.id, "client-2").await,
        "delete client twice",
    )?;
    ensure_eq(
        ok(store.list_clients(&org_a.id).await, "list clients")?.len(),
        1,
        "one client left",
    )?;

    ok(store.delete_organization(&org_a.id).await, "delete org a")?;
    ok(store.delete_organization(&org_b.id).await, "delete org b")
}

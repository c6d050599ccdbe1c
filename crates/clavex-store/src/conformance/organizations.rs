//! Organizations: the round trip of every field, conflicts, update and delete.

use super::{
    CheckResult, NOW, conflict, ensure, ensure_eq, fixtures::org, not_found, ok, unique_suffix,
};
use crate::{OrganizationRecord, Store};

pub async fn check_ping(store: &dyn Store) -> CheckResult {
    ok(store.ping().await, "ping")
}

pub async fn check_organizations(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let a = org(&format!("conf-org-a-{sfx}"));
    let b = OrganizationRecord {
        display_name: "B".to_owned(),
        settings_json: "{}".to_owned(),
        created_at: NOW + 5,
        updated_at: NOW + 6,
        ..org(&format!("conf-org-b-{sfx}"))
    };

    ensure_eq(
        ok(store.get_organization(&a.id).await, "get before insert")?,
        None,
        "no organization before insert",
    )?;
    ok(store.insert_organization(&a).await, "insert org a")?;
    ok(store.insert_organization(&b).await, "insert org b")?;
    ensure_eq(
        ok(store.get_organization(&a.id).await, "get org a")?,
        Some(a.clone()),
        "org a round-trips",
    )?;
    ensure_eq(
        ok(store.get_organization(&b.id).await, "get org b")?,
        Some(b.clone()),
        "org b round-trips",
    )?;

    let duplicate = OrganizationRecord {
        display_name: "impostor".to_owned(),
        ..a.clone()
    };
    conflict(
        store.insert_organization(&duplicate).await,
        "insert duplicate org",
    )?;
    ensure_eq(
        ok(store.get_organization(&a.id).await, "get org a")?,
        Some(a.clone()),
        "a refused duplicate leaves the original",
    )?;

    let listed = ok(store.list_organizations().await, "list orgs")?;
    ensure(listed.contains(&a), "list_organizations contains org a")?;
    ensure(listed.contains(&b), "list_organizations contains org b")?;

    // Update replaces display name, settings and updated_at, and nothing else.
    let update = OrganizationRecord {
        display_name: "A, renamed".to_owned(),
        settings_json: r#"{"renamed":true}"#.to_owned(),
        created_at: 1,
        updated_at: NOW + 100,
        ..a.clone()
    };
    ok(store.update_organization(&update).await, "update org a")?;
    let updated = OrganizationRecord {
        created_at: a.created_at,
        ..update.clone()
    };
    ensure_eq(
        ok(store.get_organization(&a.id).await, "get updated org a")?,
        Some(updated),
        "update_organization replaces display name, settings, updated_at only",
    )?;
    ensure_eq(
        ok(store.get_organization(&b.id).await, "get org b")?,
        Some(b.clone()),
        "updating org a leaves org b alone",
    )?;

    let missing = org(&format!("conf-org-missing-{sfx}"));
    not_found(
        store.update_organization(&missing).await,
        "update missing org",
    )?;
    not_found(
        store.delete_organization(&missing.id).await,
        "delete missing org",
    )?;
    ensure_eq(
        ok(store.get_organization(&missing.id).await, "get missing org")?,
        None,
        "missing org is absent",
    )?;

    ok(store.delete_organization(&b.id).await, "delete org b")?;
    ensure_eq(
        ok(store.get_organization(&b.id).await, "get deleted org b")?,
        None,
        "deleted org is gone",
    )?;
    not_found(store.delete_organization(&b.id).await, "delete org b twice")?;
    let listed = ok(store.list_organizations().await, "list orgs")?;
    ensure(
        !listed.iter().any(|o| o.id == b.id),
        "list_organizations no longer has org b",
    )?;
    ok(store.delete_organization(&a.id).await, "delete org a")
}

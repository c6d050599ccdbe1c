//! Consents: upsert, lookup and delete per (organization, user, client).

use super::fixtures::{consent, org};
use super::{CheckResult, NOW, StoreWithFlow, ensure, ensure_eq, ok, refused, unique_suffix};
use crate::ConsentRecord;

/// Consents: upsert inserts, then replaces scope and updated_at and keeps created_at.
pub async fn check_flow_consents(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_a = org(&format!("conf-consent-a-{sfx}"));
    let org_b = org(&format!("conf-consent-b-{sfx}"));
    ok(store.insert_organization(&org_a).await, "insert org a")?;
    ok(store.insert_organization(&org_b).await, "insert org b")?;
    let (a, b) = (org_a.id.as_str(), org_b.id.as_str());

    ensure_eq(
        ok(store.get_consent(a, "u", "c").await, "get before upsert")?,
        None,
        "no consent before upsert",
    )?;
    let first = consent(a, "u", "c", "openid profile");
    ok(store.upsert_consent(&first).await, "upsert")?;
    ensure_eq(
        ok(store.get_consent(a, "u", "c").await, "get")?,
        Some(first.clone()),
        "consent round-trips",
    )?;

    // Neighbours differing in one key part each.
    let other_client = consent(a, "u", "c2", "openid");
    let other_user = consent(a, "u2", "c", "openid email");
    let other_org = consent(b, "u", "c", "openid address");
    for c in [&other_client, &other_user, &other_org] {
        ok(store.upsert_consent(c).await, "upsert neighbour")?;
    }

    let second = ConsentRecord {
        scope: "openid profile email offline_access".to_owned(),
        created_at: NOW + 50,
        updated_at: NOW + 60,
        ..first.clone()
    };
    ok(store.upsert_consent(&second).await, "upsert again")?;
    ensure_eq(
        ok(store.get_consent(a, "u", "c").await, "get")?,
        Some(ConsentRecord {
            created_at: first.created_at,
            ..second.clone()
        }),
        "a second upsert replaces scope and updated_at, keeps created_at",
    )?;
    for c in [&other_client, &other_user, &other_org] {
        ensure_eq(
            ok(
                store.get_consent(&c.org_id, &c.user_id, &c.client_id).await,
                "get neighbour",
            )?,
            Some(c.clone()),
            "an upsert touches only its own (org, user, client)",
        )?;
    }
    refused(
        store
            .upsert_consent(&consent(
                &format!("conf-consent-missing-{sfx}"),
                "u",
                "c",
                "x",
            ))
            .await,
        "upsert consent of a missing org",
    )?;

    ensure(
        ok(store.delete_consent(a, "u", "c").await, "delete")?,
        "delete_consent reports an existing consent",
    )?;
    ensure_eq(
        ok(store.get_consent(a, "u", "c").await, "get deleted")?,
        None,
        "deleted consent is gone",
    )?;
    ensure(
        !ok(store.delete_consent(a, "u", "c").await, "delete twice")?,
        "delete_consent reports a missing consent",
    )?;
    for c in [&other_client, &other_user, &other_org] {
        ensure_eq(
            ok(
                store.get_consent(&c.org_id, &c.user_id, &c.client_id).await,
                "get neighbour",
            )?,
            Some(c.clone()),
            "a delete touches only its own (org, user, client)",
        )?;
    }
    // After a delete, an upsert starts afresh (a new created_at).
    let again = ConsentRecord {
        created_at: NOW + 70,
        updated_at: NOW + 70,
        ..first.clone()
    };
    ok(store.upsert_consent(&again).await, "upsert after delete")?;
    ensure_eq(
        ok(store.get_consent(a, "u", "c").await, "get")?,
        Some(again),
        "an upsert after a delete inserts anew",
    )?;

    ok(store.delete_organization(a).await, "delete org a")?;
    ok(store.delete_organization(b).await, "delete org b")
}

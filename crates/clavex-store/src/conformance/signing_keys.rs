//! Signing keys: at most one active key per algorithm, rotation, purge of unpublished keys.

use super::fixtures::{key, org};
use super::{CheckResult, NOW, conflict, ensure, ensure_eq, ok, refused, unique_suffix};
use crate::{KeyStatus, SigningKeyRecord, Store};

/// Checks that exactly the given (alg) each have one active key.
#[track_caller]
fn one_active_per_alg(keys: &[SigningKeyRecord], algs: &[&str]) -> CheckResult {
    for alg in algs {
        let active = keys
            .iter()
            .filter(|k| k.alg == *alg && k.status == KeyStatus::Active)
            .count();
        ensure_eq(active, 1, &format!("exactly one active {alg} key"))?;
    }
    Ok(())
}

pub async fn check_signing_keys(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-key-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let id = org_rec.id.as_str();

    let k1 = key(id, "es-1", "ES256", NOW);
    let k2 = key(id, "ps-1", "PS256", NOW + 1);
    let r0 = SigningKeyRecord {
        status: KeyStatus::Retired,
        retired_at: Some(NOW - 100),
        publish_until: Some(NOW - 50),
        ..key(id, "es-0", "ES256", NOW - 1000)
    };
    ok(store.insert_signing_key(&k1).await, "insert es-1")?;
    ok(store.insert_signing_key(&k2).await, "insert ps-1")?;
    ok(store.insert_signing_key(&r0).await, "insert retired es-0")?;
    ensure_eq(
        ok(store.list_signing_keys(id).await, "list keys")?,
        vec![r0.clone(), k1.clone(), k2.clone()],
        "keys round-trip, oldest first",
    )?;
    ensure_eq(
        ok(
            store
                .list_signing_keys(&format!("conf-key-missing-{sfx}"))
                .await,
            "list keys of a missing org",
        )?,
        vec![],
        "no keys for a missing org",
    )?;

    conflict(
        store
            .insert_signing_key(&key(id, "es-1", "EdDSA", NOW))
            .await,
        "insert duplicate kid",
    )?;
    conflict(
        store
            .insert_signing_key(&key(id, "es-other", "ES256", NOW))
            .await,
        "insert a second active ES256 key",
    )?;
    refused(
        store
            .insert_signing_key(&key(&format!("conf-key-missing-{sfx}"), "k", "ES256", NOW))
            .await,
        "insert key of a missing org",
    )?;

    // Rotation 1: es-1 retires, es-2 becomes active; PS256 is untouched.
    let t1 = NOW + 100;
    let k3 = key(id, "es-2", "ES256", t1);
    ok(
        store.rotate_signing_key(&k3, t1, t1 + 3600).await,
        "rotate ES256",
    )?;
    let k1_retired = SigningKeyRecord {
        status: KeyStatus::Retired,
        retired_at: Some(t1),
        publish_until: Some(t1 + 3600),
        ..k1.clone()
    };
    let keys = ok(store.list_signing_keys(id).await, "list keys")?;
    ensure_eq(
        keys.clone(),
        vec![r0.clone(), k1_retired.clone(), k2.clone(), k3.clone()],
        "rotation retires the active key (retired_at, publish_until) and adds the new one",
    )?;
    one_active_per_alg(&keys, &["ES256", "PS256"])?;

    // A rotation that cannot insert (kid taken) changes nothing: it is one transaction.
    let clash = key(id, "ps-1", "ES256", t1 + 1);
    conflict(
        store.rotate_signing_key(&clash, t1 + 1, t1 + 9999).await,
        "rotate with a taken kid",
    )?;
    ensure_eq(
        ok(store.list_signing_keys(id).await, "list keys")?,
        keys.clone(),
        "a failed rotation is rolled back",
    )?;

    // The first key of an algorithm: nothing to retire.
    let ed = key(id, "ed-1", "EdDSA", t1 + 2);
    ok(
        store.rotate_signing_key(&ed, t1 + 2, t1 + 10).await,
        "first EdDSA key",
    )?;

    // Rotation 2: es-2 retires; es-1 keeps its earlier retirement.
    let t2 = NOW + 200;
    let k4 = key(id, "es-3", "ES256", t2);
    ok(
        store.rotate_signing_key(&k4, t2, t2 + 7200).await,
        "rotate ES256 again",
    )?;
    let k3_retired = SigningKeyRecord {
        status: KeyStatus::Retired,
        retired_at: Some(t2),
        publish_until: Some(t2 + 7200),
        ..k3.clone()
    };
    let keys = ok(store.list_signing_keys(id).await, "list keys")?;
    ensure_eq(
        keys.clone(),
        vec![
            r0.clone(),
            k1_retired.clone(),
            k2.clone(),
            k3_retired.clone(),
            ed.clone(),
            k4.clone(),
        ],
        "second rotation retires only the then-active key",
    )?;
    one_active_per_alg(&keys, &["ES256", "PS256", "EdDSA"])?;

    // Purge: retired keys whose publish_until is before `now`; never active keys.
    let purged = ok(store.purge_unpublished_keys(t1 + 3601).await, "purge keys")?;
    ensure(purged >= 2, "purge_unpublished_keys counts es-0 and es-1")?;
    ensure_eq(
        ok(store.list_signing_keys(id).await, "list keys")?,
        vec![k2.clone(), k3_retired.clone(), ed.clone(), k4.clone()],
        "purge removes retired keys past publish_until, keeps the rest",
    )?;
    ok(
        store.purge_unpublished_keys(t2 + 7200).await,
        "purge keys at publish_until",
    )?;
    ensure(
        ok(store.list_signing_keys(id).await, "list keys")?.contains(&k3_retired),
        "a key is still published at exactly publish_until",
    )?;
    ok(
        store.purge_unpublished_keys(t2 + 7201).await,
        "purge keys after publish_until",
    )?;
    ensure_eq(
        ok(store.list_signing_keys(id).await, "list keys")?,
        vec![k2, ed, k4],
        "only active keys remain",
    )?;

    ok(store.delete_organization(id).await, "delete org")
}

//! The purges: expired replay records and artifacts past `retain_until`. They remove rows that
//! are not the check's own (whatever expired before the suite's fixed instants), which is why
//! every other artifact the suite stores is retained past [`PURGE_AT`].

use super::fixtures::{artifact, id_hash, org, used};
use super::{CheckResult, NOW, PURGE_AT, StoreWithFlow, ensure, ensure_eq, ok, unique_suffix};
use crate::{ArtifactKind, ArtifactRecord, Consumed, Store, UnixSeconds};

pub async fn check_purge_expired_replays(store: &dyn Store) -> CheckResult {
    let ns = format!("conf-purge-{}", unique_suffix());
    ensure(
        ok(
            store.record_once(&ns, "short", NOW + 10, NOW).await,
            "short",
        )?,
        "short is new",
    )?;
    ensure(
        ok(
            store.record_once(&ns, "long", NOW + 1000, NOW).await,
            "long",
        )?,
        "long is new",
    )?;
    let purged = ok(store.purge_expired_replays(NOW + 11).await, "purge")?;
    ensure(purged >= 1, "purge_expired_replays counts the short record")?;
    // Asked at the original instant, a surviving record would be a replay: "short" is gone...
    ensure(
        ok(
            store.record_once(&ns, "short", NOW + 10, NOW).await,
            "short again",
        )?,
        "the expired record was purged",
    )?;
    // ...and "long" is not.
    ensure(
        !ok(
            store.record_once(&ns, "long", NOW + 1000, NOW).await,
            "long again",
        )?,
        "an unexpired record survives the purge",
    )?;
    Ok(())
}

/// `purge_artifacts(now)` deletes what is past `retain_until` (strictly before `now`) and keeps the
/// rest, including expired or used artifacts still retained, which are still recognised.
pub async fn check_flow_purge_artifacts(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-purge-art-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();

    let short = |tag: &str, kind: ArtifactKind, retain_until: UnixSeconds| ArtifactRecord {
        expires_at: NOW + 5,
        retain_until,
        ..artifact(kind, id_hash(tag, &sfx), o, None)
    };
    // Past retain_until at PURGE_AT: purged.
    let gone = short("gone", ArtifactKind::PushedRequest, PURGE_AT - 1);
    // Expired, unused, retained: survives, reports Expired.
    let expired = short("expired", ArtifactKind::PushedRequest, PURGE_AT + 9);
    // Used, expired, retained: survives, reports AlreadyUsed.
    let consumed = short("consumed", ArtifactKind::AuthorizationCode, PURGE_AT + 9);
    // retain_until exactly PURGE_AT: survives (strictly before `now` is purged).
    let edge = short("edge", ArtifactKind::Session, PURGE_AT);
    // Unexpired: survives and is still consumable.
    let live = artifact(ArtifactKind::RefreshToken, id_hash("live", &sfx), o, None);
    for a in [&gone, &expired, &consumed, &edge, &live] {
        ok(store.insert_artifact(a).await, "insert artifact")?;
    }
    ensure(
        matches!(
            ok(
                store
                    .consume_artifact(consumed.kind, &consumed.id_hash, NOW)
                    .await,
                "consume",
            )?,
            Consumed::Fresh(_)
        ),
        "consumed before the purge",
    )?;

    let purged = ok(store.purge_artifacts(PURGE_AT).await, "purge artifacts")?;
    ensure(purged >= 1, "purge_artifacts counts the purged artifact")?;

    ensure_eq(
        ok(store.get_artifact(gone.kind, &gone.id_hash).await, "get")?,
        None,
        "an artifact past retain_until is purged",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(gone.kind, &gone.id_hash, PURGE_AT + 1)
                .await,
            "consume purged",
        )?,
        Consumed::Missing,
        "a purged artifact is Missing",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(expired.kind, &expired.id_hash, PURGE_AT + 1)
                .await,
            "consume expired",
        )?,
        Consumed::Expired(expired.clone()),
        "an expired but retained artifact survives and reports Expired",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(consumed.kind, &consumed.id_hash, PURGE_AT + 1)
                .await,
            "consume used",
        )?,
        Consumed::AlreadyUsed(used(&consumed, NOW)),
        "a used, expired but retained artifact survives and reports AlreadyUsed",
    )?;
    ensure_eq(
        ok(store.get_artifact(edge.kind, &edge.id_hash).await, "get")?,
        Some(edge.clone()),
        "an artifact is retained at exactly retain_until",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(live.kind, &live.id_hash, PURGE_AT)
                .await,
            "consume live",
        )?,
        Consumed::Fresh(used(&live, PURGE_AT)),
        "an unexpired artifact survives the purge",
    )?;

    ok(store.delete_organization(o).await, "delete org")
}

//! Races: concurrent `record_once` and `consume_artifact` calls on one key, through one store or
//! several stores on one database (several nodes), produce exactly one winner.

use super::fixtures::{artifact, id_hash, org, used};
use super::{
    CheckResult, NOW, RACERS, StoreWithFlow, ensure, ensure_eq, fail, join_all, ok, unique_suffix,
};
use crate::{ArtifactKind, ArtifactRecord, Consumed, Store, UnixSeconds};

/// Counts the `true`s of `RACERS` concurrent `record_once` calls spread over `stores`.
async fn race(
    stores: &[&dyn Store],
    ns: &str,
    id: &str,
    expires_at: UnixSeconds,
    now: UnixSeconds,
) -> CheckResult<usize> {
    let calls = (0..RACERS)
        .filter_map(|i| stores.get(i % stores.len().max(1)))
        .map(|store| store.record_once(ns, id, expires_at, now))
        .collect();
    let mut wins = 0;
    for result in join_all(calls).await {
        if ok(result, "concurrent record_once")? {
            wins += 1;
        }
    }
    Ok(wins)
}

pub async fn check_record_once_concurrent(store: &dyn Store) -> CheckResult {
    check_record_once_across(&[store]).await
}

/// `record_once` across several stores on one database (several nodes): a record made through
/// one is a replay through the others, and racing calls, fresh or replacing an expired record,
/// produce exactly one `true`.
pub async fn check_record_once_across(stores: &[&dyn Store]) -> CheckResult {
    ensure(!stores.is_empty(), "at least one store")?;
    let ns = format!("conf-race-{}", unique_suffix());

    for (i, first) in stores.iter().enumerate() {
        let id = format!("seen-{i}");
        ensure(
            ok(first.record_once(&ns, &id, NOW + 60, NOW).await, "record")?,
            "first use is new",
        )?;
        for other in stores {
            ensure(
                !ok(other.record_once(&ns, &id, NOW + 60, NOW).await, "replay")?,
                "a replay through any store is refused",
            )?;
        }
    }

    let wins = race(stores, &ns, "race", NOW + 60, NOW).await?;
    ensure_eq(wins, 1, "racing on a new id: exactly one true")?;
    let wins = race(stores, &ns, "race", NOW + 60, NOW + 30).await?;
    ensure_eq(wins, 0, "racing on a live id: no true")?;
    let wins = race(stores, &ns, "race", NOW + 200, NOW + 61).await?;
    ensure_eq(wins, 1, "racing on an expired id: exactly one true")?;
    Ok(())
}

pub async fn check_flow_consume_concurrent(store: &dyn StoreWithFlow) -> CheckResult {
    check_consume_across(&[store]).await
}

/// Sorts the outcomes of `RACERS` concurrent consumptions of `(kind, id_hash)` spread over
/// `stores`, racer `i` at `now + i`: `(fresh, already used, expired, missing)`.
async fn race_consume(
    stores: &[&dyn StoreWithFlow],
    kind: ArtifactKind,
    id_hash: &[u8],
    now: UnixSeconds,
) -> CheckResult<(Vec<ArtifactRecord>, Vec<ArtifactRecord>, usize, usize)> {
    let calls = (0..RACERS)
        .filter_map(|i| stores.get(i % stores.len().max(1)).map(|s| (i, s)))
        .map(|(i, store)| {
            let offset = UnixSeconds::try_from(i).unwrap_or_default();
            store.consume_artifact(kind, id_hash, now + offset)
        })
        .collect();
    let (mut fresh, mut already, mut expired, mut missing) = (Vec::new(), Vec::new(), 0, 0);
    for result in join_all(calls).await {
        match ok(result, "concurrent consume_artifact")? {
            Consumed::Fresh(a) => fresh.push(a),
            Consumed::AlreadyUsed(a) => already.push(a),
            Consumed::Expired(_) => expired += 1,
            Consumed::Missing => missing += 1,
        }
    }
    Ok((fresh, already, expired, missing))
}

/// `consume_artifact` across several stores on one database (several nodes): an artifact stored
/// through one is seen and consumed through the others, consumed through one it is AlreadyUsed
/// through the others, and of racing consumers exactly one gets `Fresh`.
pub async fn check_consume_across(stores: &[&dyn StoreWithFlow]) -> CheckResult {
    let Some(first) = stores.first() else {
        return Err(fail("at least one store".to_owned()));
    };
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-race-art-{sfx}"));
    ok(first.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();

    for (i, issuer) in stores.iter().enumerate() {
        let code = artifact(
            ArtifactKind::AuthorizationCode,
            id_hash(&format!("seen-{i}"), &sfx),
            o,
            Some("g"),
        );
        ok(issuer.insert_artifact(&code).await, "insert code")?;
        for other in stores {
            ensure_eq(
                ok(other.get_artifact(code.kind, &code.id_hash).await, "get")?,
                Some(code.clone()),
                "an artifact stored through one store is seen through every store",
            )?;
        }
        let redeemer = stores.get((i + 1) % stores.len()).unwrap_or(issuer);
        ensure_eq(
            ok(
                redeemer
                    .consume_artifact(code.kind, &code.id_hash, NOW)
                    .await,
                "consume",
            )?,
            Consumed::Fresh(used(&code, NOW)),
            "consumed through another store than the one that stored it",
        )?;
        for other in stores {
            ensure_eq(
                ok(
                    other
                        .consume_artifact(code.kind, &code.id_hash, NOW + 1)
                        .await,
                    "replay",
                )?,
                Consumed::AlreadyUsed(used(&code, NOW)),
                "a replay through any store is AlreadyUsed",
            )?;
        }
    }

    // A live artifact: exactly one winner; every loser sees the winner's used_at.
    let raced = artifact(
        ArtifactKind::AuthorizationCode,
        id_hash("race", &sfx),
        o,
        Some("g"),
    );
    ok(first.insert_artifact(&raced).await, "insert raced code")?;
    let (fresh, already, expired, missing) =
        race_consume(stores, raced.kind, &raced.id_hash, NOW).await?;
    ensure_eq(
        fresh.len(),
        1,
        "racing on a live artifact: exactly one Fresh",
    )?;
    ensure_eq(
        (already.len(), expired, missing),
        (RACERS - 1, 0, 0),
        "racing on a live artifact: every other racer gets AlreadyUsed",
    )?;
    let winner_used_at = fresh.first().and_then(|a| a.used_at);
    ensure(winner_used_at.is_some(), "the Fresh record carries used_at")?;
    ensure(
        already.iter().all(|a| a.used_at == winner_used_at),
        "every AlreadyUsed record shows the winner's used_at",
    )?;
    ensure_eq(
        ok(first.get_artifact(raced.kind, &raced.id_hash).await, "get")?.and_then(|a| a.used_at),
        winner_used_at,
        "the stored used_at is the winner's",
    )?;

    // An expired artifact: nobody wins, and it stays unused.
    let stale = artifact(ArtifactKind::PushedRequest, id_hash("stale", &sfx), o, None);
    ok(first.insert_artifact(&stale).await, "insert stale")?;
    let (fresh, already, expired, missing) =
        race_consume(stores, stale.kind, &stale.id_hash, stale.expires_at).await?;
    ensure_eq(
        (fresh.len(), already.len(), expired, missing),
        (0, 0, RACERS, 0),
        "racing on an expired artifact: every racer gets Expired",
    )?;
    ensure_eq(
        ok(first.get_artifact(stale.kind, &stale.id_hash).await, "get")?,
        Some(stale.clone()),
        "an expired artifact stays unused",
    )?;

    ok(first.delete_organization(o).await, "delete org")
}

//! Single-use records (`record_once`, `record_once_many`): new once, then a replay until they
//! expire.

use super::{CheckResult, NOW, ensure, join_all, ok, unique_suffix};
use crate::{ReplayEntry, Store, StoreResult, UnixSeconds};

pub async fn check_record_once(store: &dyn Store) -> CheckResult {
    let ns = format!("conf-ns-{}", unique_suffix());
    let other_ns = format!("{ns}-other");

    ensure(
        ok(store.record_once(&ns, "jti", NOW + 60, NOW).await, "first")?,
        "first use is new",
    )?;
    ensure(
        !ok(store.record_once(&ns, "jti", NOW + 60, NOW).await, "replay")?,
        "immediate replay is refused",
    )?;
    ensure(
        !ok(
            store.record_once(&ns, "jti", NOW + 999, NOW + 59).await,
            "replay before expiry",
        )?,
        "replay just before expiry is refused",
    )?;
    ensure(
        ok(
            store.record_once(&other_ns, "jti", NOW + 60, NOW).await,
            "other namespace",
        )?,
        "the same id in another namespace is new",
    )?;
    ensure(
        ok(
            store.record_once(&ns, "jti-2", NOW + 60, NOW).await,
            "other id",
        )?,
        "another id in the same namespace is new",
    )?;
    ensure(
        ok(
            store.record_once(&ns, "JTI", NOW + 60, NOW).await,
            "other case",
        )?,
        "ids are compared exactly",
    )?;

    // After expiry (now > expires_at) the id may be used again; the refused call above did not
    // extend the original expiry.
    ensure(
        ok(
            store.record_once(&ns, "jti", NOW + 200, NOW + 61).await,
            "after expiry",
        )?,
        "an expired record is replaced",
    )?;
    ensure(
        !ok(
            store.record_once(&ns, "jti", NOW + 300, NOW + 62).await,
            "replay of the replacement",
        )?,
        "the replacement is single-use too",
    )?;
    ensure(
        !ok(
            store.record_once(&ns, "jti", NOW + 300, NOW + 199).await,
            "replay before new expiry",
        )?,
        "the replacement carries the new expiry",
    )?;
    Ok(())
}

pub async fn check_record_once_many(store: &dyn Store) -> CheckResult {
    let ns = format!("conf-many-{}", unique_suffix());
    let other_ns = format!("{ns}-other");
    let records =
        |list: &[(&str, &'static str, UnixSeconds)]| -> Vec<(String, String, UnixSeconds)> {
            list.iter()
                .map(|(n, i, e)| ((*n).to_owned(), (*i).to_owned(), *e))
                .collect()
        };
    async fn many(
        store: &dyn Store,
        list: &[(String, String, UnixSeconds)],
        now: UnixSeconds,
    ) -> StoreResult<Vec<bool>> {
        let entries: Vec<ReplayEntry<'_>> = list
            .iter()
            .map(|(namespace, id, expires_at)| ReplayEntry {
                namespace,
                id,
                expires_at: *expires_at,
            })
            .collect();
        store.record_once_many(&entries, now).await
    }

    ensure(
        ok(many(store, &[], NOW).await, "empty")?.is_empty(),
        "no records, no answers",
    )?;
    let first = records(&[(&ns, "a", NOW + 60), (&other_ns, "a", NOW + 60)]);
    ensure(
        ok(many(store, &first, NOW).await, "first")? == vec![true, true],
        "two new records in two namespaces are both new",
    )?;
    ensure(
        !ok(
            store.record_once(&ns, "a", NOW + 60, NOW + 1).await,
            "single replay",
        )?,
        "a record written by record_once_many is seen by record_once",
    )?;
    // A replay next to a new record: each is decided on its own, in order.
    let mixed = records(&[(&ns, "b", NOW + 60), (&other_ns, "a", NOW + 60)]);
    ensure(
        ok(many(store, &mixed, NOW + 1).await, "mixed")? == vec![true, false],
        "the new record is new and the replayed one is refused",
    )?;
    // The same key twice in one call: new once.
    let twice = records(&[(&ns, "c", NOW + 60), (&ns, "c", NOW + 60)]);
    ensure(
        ok(many(store, &twice, NOW + 1).await, "twice")? == vec![true, false],
        "a key given twice is new at most once",
    )?;
    // An expired record is replaced, as with record_once.
    let later = records(&[(&ns, "a", NOW + 300), (&ns, "d", NOW + 300)]);
    ensure(
        ok(many(store, &later, NOW + 61).await, "after expiry")? == vec![true, true],
        "an expired record is replaced",
    )?;
    ensure(
        ok(many(store, &later, NOW + 62).await, "replay of both")? == vec![false, false],
        "the replacements are single-use too",
    )?;
    // Racing calls with the same keys in opposite orders: each key is new exactly once.
    let forward = records(&[(&ns, "r1", NOW + 60), (&ns, "r2", NOW + 60)]);
    let backward = records(&[(&ns, "r2", NOW + 60), (&ns, "r1", NOW + 60)]);
    let mut answers = join_all(vec![
        many(store, &forward, NOW),
        many(store, &backward, NOW),
    ])
    .await
    .into_iter();
    let one = ok(answers.next().unwrap_or(Ok(Vec::new())), "race one")?;
    let two = ok(answers.next().unwrap_or(Ok(Vec::new())), "race two")?;
    let wins = |a: Option<&bool>, b: Option<&bool>| {
        u8::from(a == Some(&true)) + u8::from(b == Some(&true))
    };
    ensure(
        wins(one.first(), two.get(1)) == 1 && wins(one.get(1), two.first()) == 1,
        "racing calls record each key exactly once",
    )?;
    Ok(())
}

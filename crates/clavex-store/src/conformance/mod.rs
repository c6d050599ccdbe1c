//! The conformance suite every [`Store`] and [`FlowStore`] implementation must pass.
//!
//! [`run_all`] runs every [`Store`] check and panics with the first failure, like a test;
//! [`check_all`] and the individual `check_*` functions return the failure instead. [`run_flow_all`]
//! and [`check_flow_all`] do the same for the [`FlowStore`] checks (`check_flow_*`), which take a
//! [`StoreWithFlow`]: they need organizations to own what they store. [`run_across_all`] and
//! [`check_across_all`] run the checks that need several stores on one database. Each suite's
//! checks are listed once ([`STORE_CHECKS`], [`FLOW_CHECKS`], [`CROSS_STORE_CHECKS`]) and its
//! runners return how many checks ran, so that a backend's tests can assert that the whole suite
//! ran instead of trusting that it did.
//!
//! Every check makes its own organizations, namespaces, keys and token hashes from
//! [`unique_suffix`], so the suite can run again and again against the same database, and
//! alongside itself. Some checks do touch rows that
//! are not their own: `delete_admin_tokens(None)` removes every server-level admin token, and the
//! purge methods remove whatever expired (or, for artifacts, whatever is past `retain_until`)
//! before the (fixed, long past) instants the suite uses. Every other artifact the suite stores is
//! retained well past those instants, so one run's purge cannot pull rows from under another run.
//!
//! The module is compiled only with the crate's `conformance` feature (so the server binary does
//! not carry it, while other crates' tests can still run it against their own stores), and uses
//! nothing beyond the crate's own dependencies.
//!
//! Layout: this file holds the harness (the error type, the assertion helpers, the suite lists and
//! their runners); `fixtures` the records the checks store; every other file one area's checks,
//! re-exported here so that each stays `conformance::check_*`.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{FlowStore, Store, StoreError, StoreResult, UnixSeconds};

mod admin_tokens;
mod artifacts;
mod cascades;
mod clients;
mod concurrency;
mod consents;
mod consume;
mod counters;
mod fixtures;
mod grants;
mod organizations;
mod purge;
mod replay;
mod signing_keys;
mod users;

pub use admin_tokens::check_admin_tokens;
pub use artifacts::{check_flow_artifacts, check_flow_delete_client_artifacts};
pub use cascades::{check_delete_organization_cascades, check_flow_delete_organization_cascades};
pub use clients::check_clients;
pub use concurrency::{
    check_consume_across, check_flow_consume_concurrent, check_record_once_across,
    check_record_once_concurrent,
};
pub use consents::check_flow_consents;
pub use consume::{check_flow_consume, check_flow_consume_and_issue};
pub use counters::check_flow_counters;
pub use grants::{check_flow_grants, check_flow_revoke_user_grants};
pub use organizations::{check_organizations, check_ping};
pub use purge::{check_flow_purge_artifacts, check_purge_expired_replays};
pub use replay::{check_record_once, check_record_once_many};
pub use signing_keys::check_signing_keys;
pub use users::check_users;

/// The "current time" of the suite: fixed, so that runs never depend on the clock.
const NOW: UnixSeconds = 1_700_000_000;

/// How many `record_once` (or `consume_artifact`) calls race on one key.
const RACERS: usize = 16;

/// `retain_until` of every artifact the suite stores outside [`check_flow_purge_artifacts`]: far
/// beyond [`PURGE_AT`], so that a purge by a concurrent run never removes them.
const RETAIN: UnixSeconds = NOW + 86_400;

/// The one instant [`check_flow_purge_artifacts`] purges at.
const PURGE_AT: UnixSeconds = NOW + 11;

/// A failed check: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceError {
    pub location: String,
    pub message: String,
}

impl fmt::Display for ConformanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ConformanceError {}

pub type CheckResult<T = ()> = Result<T, ConformanceError>;

#[track_caller]
fn fail(message: String) -> ConformanceError {
    ConformanceError {
        location: Location::caller().to_string(),
        message,
    }
}

#[track_caller]
fn ensure(condition: bool, what: &str) -> CheckResult {
    if condition {
        Ok(())
    } else {
        Err(fail(format!("check failed: {what}")))
    }
}

#[track_caller]
fn ensure_eq<T: PartialEq + fmt::Debug>(left: T, right: T, what: &str) -> CheckResult {
    if left == right {
        Ok(())
    } else {
        Err(fail(format!("{what}\n   got: {left:?}\n  want: {right:?}")))
    }
}

/// The call must succeed.
#[track_caller]
fn ok<T>(result: StoreResult<T>, what: &str) -> CheckResult<T> {
    result.map_err(|e| fail(format!("{what}: unexpected error: {e:?}")))
}

#[track_caller]
fn conflict<T: fmt::Debug>(result: StoreResult<T>, what: &str) -> CheckResult {
    match result {
        Err(StoreError::Conflict(_)) => Ok(()),
        other => Err(fail(format!("{what}: want Err(Conflict), got {other:?}"))),
    }
}

#[track_caller]
fn not_found<T: fmt::Debug>(result: StoreResult<T>, what: &str) -> CheckResult {
    match result {
        Err(StoreError::NotFound) => Ok(()),
        other => Err(fail(format!("{what}: want Err(NotFound), got {other:?}"))),
    }
}

/// A row that references a missing organization is refused (foreign keys are enforced).
#[track_caller]
fn refused<T: fmt::Debug>(result: StoreResult<T>, what: &str) -> CheckResult {
    match result {
        Err(StoreError::Backend(_)) => Ok(()),
        other => Err(fail(format!("{what}: want Err(Backend), got {other:?}"))),
    }
}

/// A suffix unique to this call: process id, wall clock nanoseconds and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{nanos:x}-{n}", std::process::id())
}

/// Polls every future concurrently on the current task; the outputs come back in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// What the flow checks run against: a store with both repositories, since every artifact, grant
/// and consent belongs to an organization, which only [`Store`] can create. Implemented for every
/// type that implements both, so `&SqliteStore` and `&PgStore` coerce to `&dyn StoreWithFlow`.
pub trait StoreWithFlow: Store + FlowStore {}

impl<T: Store + FlowStore + ?Sized> StoreWithFlow for T {}

/// Declares a suite in one place: `$names`, the names of its checks in the order they run, and
/// `$runner`, which runs them in that order and counts each one that passes. The runners return
/// that count, so a test can assert that every listed check ran rather than assume it.
macro_rules! suite {
    ($(#[$meta:meta])* $names:ident, $runner:ident($store:ty) = [$($check:ident),+ $(,)?]) => {
        $(#[$meta])*
        pub const $names: &[&str] = &[$(stringify!($check)),+];

        async fn $runner(store: $store) -> CheckResult<usize> {
            let mut ran = 0;
            $(
                $check(store).await?;
                ran += 1;
            )+
            Ok(ran)
        }
    };
}

suite! {
    /// Every [`Store`] check, in the order [`check_all`] runs them.
    STORE_CHECKS, store_checks(&dyn Store) = [
        check_ping,
        check_organizations,
        check_admin_tokens,
        check_clients,
        check_users,
        check_signing_keys,
        check_delete_organization_cascades,
        check_record_once,
        check_record_once_many,
        check_purge_expired_replays,
        check_record_once_concurrent,
    ]
}

suite! {
    /// Every [`FlowStore`] check, in the order [`check_flow_all`] runs them.
    FLOW_CHECKS, flow_checks(&dyn StoreWithFlow) = [
        check_flow_artifacts,
        check_flow_consume,
        check_flow_consume_concurrent,
        check_flow_consume_and_issue,
        check_flow_purge_artifacts,
        check_flow_delete_client_artifacts,
        check_flow_grants,
        check_flow_revoke_user_grants,
        check_flow_consents,
        check_flow_counters,
        check_flow_delete_organization_cascades,
    ]
}

/// The checks that take several stores on one database (several nodes), in the order
/// [`check_across_all`] runs them. With one store they are also part of the single-store suites
/// (`check_record_once_concurrent`, `check_flow_consume_concurrent`).
pub const CROSS_STORE_CHECKS: &[&str] = &["check_record_once_across", "check_consume_across"];

/// Runs every check; panics with the first failure. This is the entry point for tests. Returns how
/// many checks ran (all of [`STORE_CHECKS`] when it returns).
#[allow(clippy::panic)] // A test harness: failing loudly is its purpose.
pub async fn run_all(store: &dyn Store) -> usize {
    match check_all(store).await {
        Ok(ran) => ran,
        Err(failure) => panic!("store conformance failed at {failure}"),
    }
}

/// Runs every check; returns how many ran, or the first failure.
pub async fn check_all(store: &dyn Store) -> CheckResult<usize> {
    store_checks(store).await
}

/// Runs every flow check; panics with the first failure. This is the entry point for tests.
/// Returns how many checks ran (all of [`FLOW_CHECKS`] when it returns).
#[allow(clippy::panic)] // A test harness: failing loudly is its purpose.
pub async fn run_flow_all(store: &dyn StoreWithFlow) -> usize {
    match check_flow_all(store).await {
        Ok(ran) => ran,
        Err(failure) => panic!("flow store conformance failed at {failure}"),
    }
}

/// Runs every flow check; returns how many ran, or the first failure.
pub async fn check_flow_all(store: &dyn StoreWithFlow) -> CheckResult<usize> {
    flow_checks(store).await
}

/// Runs every cross-store check on `stores`, which must share one database; panics with the first
/// failure. Returns how many checks ran (all of [`CROSS_STORE_CHECKS`] when it returns).
#[allow(clippy::panic)] // A test harness: failing loudly is its purpose.
pub async fn run_across_all(stores: &[&dyn StoreWithFlow]) -> usize {
    match check_across_all(stores).await {
        Ok(ran) => ran,
        Err(failure) => panic!("cross-store conformance failed at {failure}"),
    }
}

/// Runs every cross-store check on `stores`; returns how many ran, or the first failure.
pub async fn check_across_all(stores: &[&dyn StoreWithFlow]) -> CheckResult<usize> {
    let as_stores: Vec<&dyn Store> = stores.iter().map(|&s| s as &dyn Store).collect();
    let mut ran = 0;
    check_record_once_across(&as_stores).await?;
    ran += 1;
    check_consume_across(stores).await?;
    ran += 1;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::{CROSS_STORE_CHECKS, FLOW_CHECKS, STORE_CHECKS};

    /// The runners themselves, which are not checks.
    const RUNNERS: [&str; 3] = ["check_all", "check_flow_all", "check_across_all"];

    /// Every `check_*` function defined (at the start of a line) in the suite's source, runners
    /// excluded.
    fn defined_checks() -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conformance");
        let mut names = Vec::new();
        for file in std::fs::read_dir(dir).unwrap() {
            let file = file.unwrap().path();
            let text = std::fs::read_to_string(file).unwrap();
            for rest in text
                .lines()
                .filter_map(|line| line.strip_prefix("pub async fn "))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with("check_") && !RUNNERS.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names.sort();
        names
    }

    /// A check that is written but listed in no suite would never run: every `check_*` must be in
    /// exactly one list, and every listed name must be a check.
    #[test]
    fn every_check_is_listed_once() {
        let mut listed: Vec<String> = STORE_CHECKS
            .iter()
            .chain(FLOW_CHECKS)
            .chain(CROSS_STORE_CHECKS)
            .map(|name| (*name).to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, defined_checks());
    }
}

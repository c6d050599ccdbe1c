//! The conformance suite every [`Store`] and [`FlowStore`] implementation must pass.
//!
//! [`run_all`] runs every [`Store`] check and panics with the first failure, like a test;
//! [`check_all`] and the individual `check_*` functions return the failure instead. [`run_flow_all`]
//! and [`check_flow_all`] do the same for the [`FlowStore`] checks (`check_flow_*`), which take a
//! [`StoreWithFlow`]: they need organizations to own what they store. [`run_across_all`] and
//! [`check_across_all`] run the checks that need several stores on one database. Each suite's
//! checks are listed once ([`STORE_CHECKS`], [`FLOW_CHECKS`], [`CROSS_STORE_CHECKS`]) and its
//! runners return how many checks ran, so that a backend's tests can assert that the whole suite
//! ran instead of trusting that it did. Every check makes its own
//! organizations, namespaces, keys and token hashes from [`unique_suffix`], so the suite can run
//! again and again against the same database, and alongside itself. Some checks do touch rows that
//! are not their own: `delete_admin_tokens(None)` removes every server-level admin token, and the
//! purge methods remove whatever expired (or, for artifacts, whatever is past `retain_until`)
//! before the (fixed, long past) instants the suite uses. Every other artifact the suite stores is
//! retained well past those instants, so one run's purge cannot pull rows from under another run.
//!
//! The module is compiled into the library (so other crates' tests can run it against their own
//! stores) and uses nothing beyond the crate's own dependencies.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    AdminTokenRecord, ArtifactKind, ArtifactRecord, ClientRecord, ConsentRecord, Consumed,
    FlowStore, GrantRecord, KeyStatus, OrganizationRecord, ReplayEntry, SigningKeyRecord, Store,
    StoreError, StoreResult, UnixSeconds, UserRecord,
};

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

fn org(id: &str) -> OrganizationRecord {
    OrganizationRecord {
        id: id.to_owned(),
        display_name: "Ünïcødé — \"quoted\" 'name' 🗝".to_owned(),
        settings_json: r#"{"a":[1,2,{"b":null}],"s":"x\"y\\z","n":-1.5e3}"#.to_owned(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn client(org_id: &str, client_id: &str) -> ClientRecord {
    ClientRecord {
        org_id: org_id.to_owned(),
        client_id: client_id.to_owned(),
        metadata_json: format!(
            r#"{{"client_name":"{client_id}","redirect_uris":["https://rp.example/cb?x=1&y=ü"]}}"#
        ),
        created_at: NOW,
        updated_at: NOW + 1,
    }
}

fn user(org_id: &str, user_id: &str, username: &str, email: Option<&str>) -> UserRecord {
    UserRecord {
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        email: email.map(str::to_owned),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned(),
        claims_json: r#"{"given_name":"Zoë","family_name":"O'Brien"}"#.to_owned(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn key(org_id: &str, kid: &str, alg: &str, created_at: UnixSeconds) -> SigningKeyRecord {
    SigningKeyRecord {
        org_id: org_id.to_owned(),
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        status: KeyStatus::Active,
        public_jwk_json: format!(r#"{{"kty":"EC","kid":"{kid}","alg":"{alg}"}}"#),
        // Every byte value, so that no encoding can hide in the round trip.
        sealed_private_key: (0..=255u8).chain(kid.bytes()).collect(),
        created_at,
        retired_at: None,
        publish_until: None,
    }
}

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

pub async fn check_admin_tokens(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-tok-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;

    let hash = |tag: &str| -> Vec<u8> {
        let mut h = vec![0u8, 255, 1, 254];
        h.extend_from_slice(format!("{tag}-{sfx}").as_bytes());
        h
    };
    let server = AdminTokenRecord {
        token_hash: hash("server"),
        org_id: None,
        label: "server token ✓".to_owned(),
        created_at: NOW,
    };
    let org_token_1 = AdminTokenRecord {
        token_hash: hash("org-1"),
        org_id: Some(org_rec.id.clone()),
        label: "org token 1".to_owned(),
        created_at: NOW + 1,
    };
    let org_token_2 = AdminTokenRecord {
        token_hash: hash("org-2"),
        org_id: Some(org_rec.id.clone()),
        label: String::new(),
        created_at: NOW + 2,
    };

    for token in [&server, &org_token_1, &org_token_2] {
        ok(store.insert_admin_token(token).await, "insert admin token")?;
    }
    for token in [&server, &org_token_1, &org_token_2] {
        ensure_eq(
            ok(
                store.find_admin_token(&token.token_hash).await,
                "find admin token",
            )?,
            Some(token.clone()),
            "admin token round-trips",
        )?;
    }
    ensure_eq(
        ok(
            store.find_admin_token(&hash("unknown")).await,
            "find unknown token",
        )?,
        None,
        "unknown token hash finds nothing",
    )?;

    let duplicate = AdminTokenRecord {
        label: "duplicate".to_owned(),
        org_id: None,
        ..org_token_1.clone()
    };
    conflict(
        store.insert_admin_token(&duplicate).await,
        "insert duplicate token hash",
    )?;
    let orphan = AdminTokenRecord {
        token_hash: hash("orphan"),
        org_id: Some(format!("conf-tok-missing-{sfx}")),
        label: "orphan".to_owned(),
        created_at: NOW,
    };
    refused(
        store.insert_admin_token(&orphan).await,
        "insert token of a missing org",
    )?;

    ensure_eq(
        ok(
            store.delete_admin_tokens(Some(&org_rec.id)).await,
            "delete org tokens",
        )?,
        2,
        "delete_admin_tokens(Some(org)) removes exactly that org's tokens",
    )?;
    for token in [&org_token_1, &org_token_2] {
        ensure_eq(
            ok(
                store.find_admin_token(&token.token_hash).await,
                "find deleted token",
            )?,
            None,
            "org token is gone",
        )?;
    }
    ensure_eq(
        ok(
            store.find_admin_token(&server.token_hash).await,
            "find server token",
        )?,
        Some(server.clone()),
        "deleting org tokens keeps server tokens",
    )?;
    ensure_eq(
        ok(
            store.delete_admin_tokens(Some(&org_rec.id)).await,
            "delete org tokens again",
        )?,
        0,
        "nothing left to delete",
    )?;

    let removed = ok(
        store.delete_admin_tokens(None).await,
        "delete server tokens",
    )?;
    ensure(
        removed >= 1,
        "delete_admin_tokens(None) removes the server token",
    )?;
    ensure_eq(
        ok(
            store.find_admin_token(&server.token_hash).await,
            "find server token",
        )?,
        None,
        "server token is gone",
    )?;

    ok(store.delete_organization(&org_rec.id).await, "delete org")
}

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

pub async fn check_users(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let org_a = org(&format!("conf-usr-a-{sfx}"));
    let org_b = org(&format!("conf-usr-b-{sfx}"));
    ok(store.insert_organization(&org_a).await, "insert org a")?;
    ok(store.insert_organization(&org_b).await, "insert org b")?;

    let alice = user(&org_a.id, "u-alice", "alice", Some("alice@example.com"));
    let bob = user(&org_a.id, "u-bob", "bob", None);
    // Several users without email may coexist.
    let carol = user(&org_a.id, "u-carol", "carol", None);
    for u in [&alice, &bob, &carol] {
        ok(store.insert_user(u).await, "insert user")?;
    }
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-alice").await, "get alice")?,
        Some(alice.clone()),
        "user round-trips",
    )?;
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-bob").await, "get bob")?,
        Some(bob.clone()),
        "user without email round-trips",
    )?;
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-nobody").await, "get missing")?,
        None,
        "missing user is absent",
    )?;
    ensure_eq(
        ok(store.list_users(&org_a.id).await, "list users")?,
        vec![alice.clone(), bob.clone(), carol.clone()],
        "list_users returns the organization's users",
    )?;

    conflict(
        store
            .insert_user(&user(&org_a.id, "u-alice", "alice2", None))
            .await,
        "insert duplicate user id",
    )?;
    conflict(
        store
            .insert_user(&user(&org_a.id, "u-x", "alice", None))
            .await,
        "insert duplicate username",
    )?;
    conflict(
        store
            .insert_user(&user(&org_a.id, "u-y", "yves", Some("alice@example.com")))
            .await,
        "insert duplicate email",
    )?;
    refused(
        store
            .insert_user(&user(&format!("conf-usr-missing-{sfx}"), "u", "u", None))
            .await,
        "insert user of a missing org",
    )?;
    // Usernames and emails are unique per organization only.
    let alice_b = user(&org_b.id, "u-alice", "alice", Some("alice@example.com"));
    ok(
        store.insert_user(&alice_b).await,
        "same username and email in another org",
    )?;

    ensure_eq(
        ok(
            store.find_user_by_login(&org_a.id, "alice").await,
            "find by username",
        )?,
        Some(alice.clone()),
        "find_user_by_login by username",
    )?;
    ensure_eq(
        ok(
            store
                .find_user_by_login(&org_a.id, "alice@example.com")
                .await,
            "find by email",
        )?,
        Some(alice.clone()),
        "find_user_by_login by email",
    )?;
    ensure_eq(
        ok(
            store.find_user_by_login(&org_b.id, "alice").await,
            "find in org b",
        )?,
        Some(alice_b.clone()),
        "find_user_by_login is scoped to the organization",
    )?;
    ensure_eq(
        ok(
            store.find_user_by_login(&org_a.id, "ALICE").await,
            "find by other case",
        )?,
        None,
        "find_user_by_login matches exactly",
    )?;
    ensure_eq(
        ok(
            store.find_user_by_login(&org_a.id, "nobody").await,
            "find unknown",
        )?,
        None,
        "unknown login finds nothing",
    )?;

    // Update: everything but the keys and created_at.
    let update = UserRecord {
        username: "alice.renamed".to_owned(),
        email: Some("alice@new.example".to_owned()),
        password_hash: "$argon2id$new".to_owned(),
        claims_json: r#"{"given_name":"Alice"}"#.to_owned(),
        created_at: 3,
        updated_at: NOW + 10,
        ..alice.clone()
    };
    ok(store.update_user(&update).await, "update alice")?;
    let updated = UserRecord {
        created_at: alice.created_at,
        ..update.clone()
    };
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-alice").await, "get alice")?,
        Some(updated.clone()),
        "update_user replaces username, email, password hash, claims, updated_at",
    )?;
    ensure_eq(
        ok(
            store.find_user_by_login(&org_a.id, "alice").await,
            "find by old username",
        )?,
        None,
        "old username no longer finds the user",
    )?;
    ensure_eq(
        ok(
            store
                .find_user_by_login(&org_a.id, "alice@new.example")
                .await,
            "find by new email",
        )?,
        Some(updated.clone()),
        "new email finds the user",
    )?;
    // The old email is free again.
    let dave = user(&org_a.id, "u-dave", "dave", Some("alice@example.com"));
    ok(
        store.insert_user(&dave).await,
        "insert user with a freed email",
    )?;

    conflict(
        store
            .update_user(&UserRecord {
                username: "bob".to_owned(),
                ..updated.clone()
            })
            .await,
        "update to a taken username",
    )?;
    conflict(
        store
            .update_user(&UserRecord {
                email: Some("alice@example.com".to_owned()),
                ..updated.clone()
            })
            .await,
        "update to a taken email",
    )?;
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-alice").await, "get alice")?,
        Some(updated.clone()),
        "a refused update changes nothing",
    )?;
    // Removing an email is allowed (NULL never collides).
    let no_email = UserRecord {
        email: None,
        ..updated.clone()
    };
    ok(store.update_user(&no_email).await, "update to no email")?;
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-alice").await, "get alice")?,
        Some(no_email.clone()),
        "email removed",
    )?;
    not_found(
        store
            .update_user(&user(&org_a.id, "u-missing", "missing", None))
            .await,
        "update missing user",
    )?;

    ok(store.delete_user(&org_a.id, "u-bob").await, "delete bob")?;
    ensure_eq(
        ok(store.get_user(&org_a.id, "u-bob").await, "get bob")?,
        None,
        "deleted user is gone",
    )?;
    ensure_eq(
        ok(
            store.find_user_by_login(&org_a.id, "bob").await,
            "find deleted",
        )?,
        None,
        "deleted user cannot be found by login",
    )?;
    not_found(
        store.delete_user(&org_a.id, "u-bob").await,
        "delete bob twice",
    )?;
    ensure_eq(
        ok(store.get_user(&org_b.id, "u-alice").await, "get alice in b")?,
        Some(alice_b),
        "org b's user is untouched",
    )?;

    ok(store.delete_organization(&org_a.id).await, "delete org a")?;
    ok(store.delete_organization(&org_b.id).await, "delete org b")
}

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

pub async fn check_delete_organization_cascades(store: &dyn Store) -> CheckResult {
    let sfx = unique_suffix();
    let doomed = org(&format!("conf-del-a-{sfx}"));
    let kept = org(&format!("conf-del-b-{sfx}"));
    ok(store.insert_organization(&doomed).await, "insert doomed")?;
    ok(store.insert_organization(&kept).await, "insert kept")?;

    let token = AdminTokenRecord {
        token_hash: format!("conf-del-token-{sfx}").into_bytes(),
        org_id: Some(doomed.id.clone()),
        label: "doomed".to_owned(),
        created_at: NOW,
    };
    let kept_token = AdminTokenRecord {
        token_hash: format!("conf-del-kept-token-{sfx}").into_bytes(),
        org_id: Some(kept.id.clone()),
        label: "kept".to_owned(),
        created_at: NOW,
    };
    for o in [&doomed, &kept] {
        ok(
            store.insert_client(&client(&o.id, "c")).await,
            "insert client",
        )?;
        ok(
            store
                .insert_user(&user(&o.id, "u", "user", Some("user@example.com")))
                .await,
            "insert user",
        )?;
        ok(
            store
                .insert_signing_key(&key(&o.id, "k", "ES256", NOW))
                .await,
            "insert key",
        )?;
    }
    ok(store.insert_admin_token(&token).await, "insert token")?;
    ok(
        store.insert_admin_token(&kept_token).await,
        "insert kept token",
    )?;

    ok(
        store.delete_organization(&doomed.id).await,
        "delete organization",
    )?;
    let d = doomed.id.as_str();
    ensure_eq(
        ok(store.get_organization(d).await, "get org")?,
        None,
        "org is gone",
    )?;
    ensure_eq(
        ok(store.get_client(d, "c").await, "get client")?,
        None,
        "client is gone",
    )?;
    ensure(
        ok(store.list_clients(d).await, "list clients")?.is_empty(),
        "no clients left",
    )?;
    ensure_eq(
        ok(store.get_user(d, "u").await, "get user")?,
        None,
        "user is gone",
    )?;
    ensure_eq(
        ok(store.find_user_by_login(d, "user").await, "find user")?,
        None,
        "user login is gone",
    )?;
    ensure(
        ok(store.list_users(d).await, "list users")?.is_empty(),
        "no users left",
    )?;
    ensure(
        ok(store.list_signing_keys(d).await, "list keys")?.is_empty(),
        "no keys left",
    )?;
    ensure_eq(
        ok(
            store.find_admin_token(&token.token_hash).await,
            "find token",
        )?,
        None,
        "admin token is gone",
    )?;
    not_found(store.delete_organization(d).await, "delete twice")?;

    // The other organization keeps everything.
    let k = kept.id.as_str();
    ensure_eq(
        ok(store.get_client(k, "c").await, "get kept client")?,
        Some(client(k, "c")),
        "other org's client survives",
    )?;
    ensure(
        ok(store.get_user(k, "u").await, "get kept user")?.is_some(),
        "other org's user survives",
    )?;
    ensure_eq(
        ok(store.list_signing_keys(k).await, "list kept keys")?.len(),
        1,
        "other org's key survives",
    )?;
    ensure_eq(
        ok(
            store.find_admin_token(&kept_token.token_hash).await,
            "find kept token",
        )?,
        Some(kept_token.clone()),
        "other org's token survives",
    )?;

    // The id can be reused, and starts empty: nothing was left behind.
    ok(store.insert_organization(&doomed).await, "re-create org")?;
    ensure(
        ok(store.list_clients(d).await, "list clients")?.is_empty(),
        "re-created org has no clients",
    )?;
    ok(
        store.insert_client(&client(d, "c")).await,
        "re-insert the same client id",
    )?;
    ok(
        store
            .insert_user(&user(d, "u", "user", Some("user@example.com")))
            .await,
        "re-insert the same user",
    )?;
    ok(
        store.insert_signing_key(&key(d, "k", "ES256", NOW)).await,
        "re-insert the same kid",
    )?;

    ok(store.delete_organization(d).await, "delete doomed")?;
    ok(store.delete_organization(k).await, "delete kept")?;
    ensure_eq(
        ok(
            store.find_admin_token(&kept_token.token_hash).await,
            "find kept token",
        )?,
        None,
        "token goes with its org",
    )
}

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

// Flow storage (`FlowStore`).

/// What the flow checks run against: a store with both repositories, since every artifact, grant
/// and consent belongs to an organization, which only [`Store`] can create. Implemented for every
/// type that implements both, so `&SqliteStore` and `&PgStore` coerce to `&dyn StoreWithFlow`.
pub trait StoreWithFlow: Store + FlowStore {}

impl<T: Store + FlowStore + ?Sized> StoreWithFlow for T {}

/// Every artifact kind; a new kind must be added here to be covered.
const ALL_KINDS: [ArtifactKind; 7] = [
    ArtifactKind::PushedRequest,
    ArtifactKind::AuthorizationCode,
    ArtifactKind::RefreshToken,
    ArtifactKind::Session,
    ArtifactKind::Interaction,
    ArtifactKind::InitialAccessToken,
    ArtifactKind::RegistrationAccessToken,
];

/// A binary id hash unique to `tag` and `sfx`, with bytes no text encoding would carry intact.
fn id_hash(tag: &str, sfx: &str) -> Vec<u8> {
    let mut h = vec![0u8, 255, 128, 1, 254, 0];
    h.extend_from_slice(format!("{tag}-{sfx}").as_bytes());
    h
}

/// An unused artifact, valid for 60 s from `NOW`, retained until [`RETAIN`].
fn artifact(
    kind: ArtifactKind,
    id_hash: Vec<u8>,
    org_id: &str,
    grant_id: Option<&str>,
) -> ArtifactRecord {
    ArtifactRecord {
        kind,
        id_hash,
        org_id: org_id.to_owned(),
        client_id: Some("client-ü".to_owned()),
        grant_id: grant_id.map(str::to_owned),
        payload_json: format!(
            r#"{{"kind":"{}","redirect_uri":"https://rp.example/cb?x=1&y=ü","n":null}}"#,
            kind.as_str()
        ),
        created_at: NOW,
        expires_at: NOW + 60,
        retain_until: RETAIN,
        used_at: None,
    }
}

fn grant(org_id: &str, grant_id: &str, user_id: Option<&str>) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id.to_owned(),
        org_id: org_id.to_owned(),
        client_id: "client-1".to_owned(),
        user_id: user_id.map(str::to_owned),
        payload_json: r#"{"scope":"openid profile","auth_time":1700000000,"acr":"urn:x"}"#
            .to_owned(),
        created_at: NOW,
        expires_at: NOW + 3600,
        revoked_at: None,
    }
}

fn consent(org_id: &str, user_id: &str, client_id: &str, scope: &str) -> ConsentRecord {
    ConsentRecord {
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: scope.to_owned(),
        created_at: NOW,
        updated_at: NOW,
    }
}

/// `artifact` as `consume_artifact` returns it when it wins at `now`.
fn used(artifact: &ArtifactRecord, now: UnixSeconds) -> ArtifactRecord {
    ArtifactRecord {
        used_at: Some(now),
        ..artifact.clone()
    }
}

/// `revoke_user_grants`: every live grant of the user is revoked (an already revoked one keeps its
/// first `revoked_at`), their artifacts and the user's consents go; other users are untouched.
pub async fn check_flow_revoke_user_grants(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-revoke-user-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();
    let mine_1 = grant(o, "mine-1", Some("alice"));
    let mine_2 = grant(o, "mine-2", Some("alice"));
    let old = GrantRecord {
        revoked_at: Some(NOW - 5),
        ..grant(o, "mine-old", Some("alice"))
    };
    let theirs = grant(o, "theirs", Some("bob"));
    for g in [&mine_1, &mine_2, &old, &theirs] {
        ok(store.insert_grant(g).await, "insert grant")?;
    }
    let mine_refresh = artifact(
        ArtifactKind::RefreshToken,
        id_hash("mine-rt", &sfx),
        o,
        Some("mine-1"),
    );
    let their_refresh = artifact(
        ArtifactKind::RefreshToken,
        id_hash("their-rt", &sfx),
        o,
        Some("theirs"),
    );
    for a in [&mine_refresh, &their_refresh] {
        ok(store.insert_artifact(a).await, "insert artifact")?;
    }
    ok(
        store
            .upsert_consent(&consent(o, "alice", "c1", "openid"))
            .await,
        "consent",
    )?;
    ok(
        store
            .upsert_consent(&consent(o, "bob", "c1", "openid"))
            .await,
        "consent",
    )?;

    ensure_eq(
        ok(
            store.revoke_user_grants(o, "alice", NOW + 7).await,
            "revoke user",
        )?,
        2,
        "two live grants revoked",
    )?;
    for id in ["mine-1", "mine-2"] {
        let got = ok(store.get_grant(o, id).await, "get")?;
        ensure_eq(
            got.and_then(|g| g.revoked_at),
            Some(NOW + 7),
            "the user's grants are revoked",
        )?;
    }
    ensure_eq(
        ok(store.get_grant(o, "mine-old").await, "get")?.and_then(|g| g.revoked_at),
        Some(NOW - 5),
        "an earlier revocation stays",
    )?;
    ensure_eq(
        ok(store.get_grant(o, "theirs").await, "get")?,
        Some(theirs.clone()),
        "another user's grant is untouched",
    )?;
    ensure_eq(
        ok(
            store
                .get_artifact(ArtifactKind::RefreshToken, &mine_refresh.id_hash)
                .await,
            "get",
        )?,
        None,
        "the user's tokens are gone",
    )?;
    ensure_eq(
        ok(
            store
                .get_artifact(ArtifactKind::RefreshToken, &their_refresh.id_hash)
                .await,
            "get",
        )?,
        Some(their_refresh.clone()),
        "another user's tokens stay",
    )?;
    ensure_eq(
        ok(store.get_consent(o, "alice", "c1").await, "get consent")?,
        None,
        "the user's consents are gone",
    )?;
    ensure(
        ok(store.get_consent(o, "bob", "c1").await, "get consent")?.is_some(),
        "another user's consent stays",
    )?;
    ensure_eq(
        ok(store.revoke_user_grants(o, "alice", NOW + 8).await, "again")?,
        0,
        "nothing left to revoke",
    )?;
    ok(store.delete_organization(o).await, "cleanup")?;
    Ok(())
}

/// Insert / get / delete of artifacts: every field of every kind round-trips, `(kind, id_hash)` is
/// the key, duplicates conflict, an unknown organization is refused.
pub async fn check_flow_artifacts(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-art-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();

    // Every kind, with every optional field both set and unset.
    let mut stored = Vec::new();
    for (i, kind) in ALL_KINDS.into_iter().enumerate() {
        let full = ArtifactRecord {
            created_at: NOW - 7,
            expires_at: NOW + 120,
            retain_until: RETAIN + 5,
            used_at: Some(NOW - 3),
            ..artifact(
                kind,
                id_hash(&format!("full-{i}"), &sfx),
                o,
                Some("grant-ü"),
            )
        };
        let bare = ArtifactRecord {
            client_id: None,
            grant_id: None,
            payload_json: String::new(),
            ..artifact(kind, id_hash(&format!("bare-{i}"), &sfx), o, None)
        };
        for a in [full, bare] {
            ok(store.insert_artifact(&a).await, "insert artifact")?;
            stored.push(a);
        }
    }
    for a in &stored {
        ensure_eq(
            ok(store.get_artifact(a.kind, &a.id_hash).await, "get artifact")?,
            Some(a.clone()),
            "artifact round-trips, every field",
        )?;
    }

    ensure_eq(
        ok(
            store
                .get_artifact(ArtifactKind::AuthorizationCode, &id_hash("never", &sfx))
                .await,
            "get missing artifact",
        )?,
        None,
        "a missing artifact is absent",
    )?;

    // The kind is part of the key: the same hash under another kind is another artifact.
    let code = artifact(
        ArtifactKind::AuthorizationCode,
        id_hash("shared-hash", &sfx),
        o,
        Some("g"),
    );
    ensure_eq(
        ok(
            store
                .get_artifact(ArtifactKind::PushedRequest, &code.id_hash)
                .await,
            "get under another kind",
        )?,
        None,
        "nothing under another kind before insert",
    )?;
    ok(store.insert_artifact(&code).await, "insert code")?;
    ensure_eq(
        ok(
            store
                .get_artifact(ArtifactKind::PushedRequest, &code.id_hash)
                .await,
            "get under another kind",
        )?,
        None,
        "a code is not found as a pushed request",
    )?;
    let par = ArtifactRecord {
        payload_json: r#"{"par":true}"#.to_owned(),
        ..artifact(ArtifactKind::PushedRequest, code.id_hash.clone(), o, None)
    };
    ok(
        store.insert_artifact(&par).await,
        "insert the same hash under another kind",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code.kind, &code.id_hash).await,
            "get code",
        )?,
        Some(code.clone()),
        "code unchanged",
    )?;
    ensure_eq(
        ok(store.get_artifact(par.kind, &par.id_hash).await, "get par")?,
        Some(par.clone()),
        "pushed request with the same hash round-trips",
    )?;

    // Duplicates conflict and leave the original alone.
    let duplicate = ArtifactRecord {
        payload_json: r#"{"impostor":true}"#.to_owned(),
        expires_at: NOW + 9999,
        ..code.clone()
    };
    conflict(
        store.insert_artifact(&duplicate).await,
        "insert duplicate artifact",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code.kind, &code.id_hash).await,
            "get code",
        )?,
        Some(code.clone()),
        "a refused duplicate leaves the original",
    )?;
    refused(
        store
            .insert_artifact(&artifact(
                ArtifactKind::Session,
                id_hash("orphan", &sfx),
                &format!("conf-art-missing-{sfx}"),
                None,
            ))
            .await,
        "insert artifact of a missing org",
    )?;

    // Delete: true once, then false; the same hash under the other kind stays.
    ensure(
        ok(
            store.delete_artifact(code.kind, &code.id_hash).await,
            "delete code",
        )?,
        "delete_artifact reports an existing artifact",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code.kind, &code.id_hash).await,
            "get code",
        )?,
        None,
        "deleted artifact is gone",
    )?;
    ensure(
        !ok(
            store.delete_artifact(code.kind, &code.id_hash).await,
            "delete code twice",
        )?,
        "delete_artifact reports a missing artifact",
    )?;
    ensure_eq(
        ok(store.get_artifact(par.kind, &par.id_hash).await, "get par")?,
        Some(par.clone()),
        "deleting under one kind leaves the other kind",
    )?;
    ensure(
        !ok(
            store
                .delete_artifact(ArtifactKind::RefreshToken, &par.id_hash)
                .await,
            "delete under a kind never stored",
        )?,
        "delete_artifact matches the kind",
    )?;
    ensure_eq(
        ok(
            store.consume_artifact(code.kind, &code.id_hash, NOW).await,
            "consume deleted",
        )?,
        Consumed::Missing,
        "a deleted artifact cannot be consumed",
    )?;

    ok(store.delete_organization(o).await, "delete org")
}

/// `consume_artifact`: fresh once, then already used; expired stays unused; missing; per kind.
/// `consume_artifact_and_issue`: the grant and the issued artifact are stored exactly when the
/// consumed one was `Fresh`; otherwise, or when an insert conflicts, nothing is written (the
/// consumption included).
pub async fn check_flow_consume_and_issue(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-issue-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();
    let pushed = artifact(ArtifactKind::PushedRequest, id_hash("par", &sfx), o, None);
    ok(store.insert_artifact(&pushed).await, "insert pushed")?;
    let code_for = |tag: &str, grant_id: &str| {
        artifact(
            ArtifactKind::AuthorizationCode,
            id_hash(tag, &sfx),
            o,
            Some(grant_id),
        )
    };

    // Fresh: all three writes happen.
    let (grant_1, code_1) = (
        grant(o, "issue-1", Some("alice")),
        code_for("code-1", "issue-1"),
    );
    ensure_eq(
        ok(
            store
                .consume_artifact_and_issue(
                    pushed.kind,
                    &pushed.id_hash,
                    NOW + 5,
                    &grant_1,
                    &code_1,
                )
                .await,
            "consume and issue",
        )?,
        Consumed::Fresh(used(&pushed, NOW + 5)),
        "a fresh artifact is consumed",
    )?;
    ensure_eq(
        ok(store.get_grant(o, "issue-1").await, "get grant")?,
        Some(grant_1.clone()),
        "the grant is stored",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code_1.kind, &code_1.id_hash).await,
            "get code",
        )?,
        Some(code_1.clone()),
        "the issued artifact is stored",
    )?;

    // Already used: nothing new is written.
    let (grant_2, code_2) = (
        grant(o, "issue-2", Some("alice")),
        code_for("code-2", "issue-2"),
    );
    ensure_eq(
        ok(
            store
                .consume_artifact_and_issue(
                    pushed.kind,
                    &pushed.id_hash,
                    NOW + 6,
                    &grant_2,
                    &code_2,
                )
                .await,
            "consume and issue again",
        )?,
        Consumed::AlreadyUsed(used(&pushed, NOW + 5)),
        "a used artifact is AlreadyUsed",
    )?;
    ensure_eq(
        ok(store.get_grant(o, "issue-2").await, "get grant 2")?,
        None,
        "no grant for a used artifact",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code_2.kind, &code_2.id_hash).await,
            "get code 2",
        )?,
        None,
        "no issued artifact for a used artifact",
    )?;

    // Expired and missing: nothing written either.
    let expiring = artifact(
        ArtifactKind::PushedRequest,
        id_hash("par-exp", &sfx),
        o,
        None,
    );
    ok(store.insert_artifact(&expiring).await, "insert expiring")?;
    ensure_eq(
        ok(
            store
                .consume_artifact_and_issue(
                    expiring.kind,
                    &expiring.id_hash,
                    NOW + 60,
                    &grant_2,
                    &code_2,
                )
                .await,
            "consume expired",
        )?,
        Consumed::Expired(expiring.clone()),
        "an expired artifact is Expired",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact_and_issue(
                    ArtifactKind::PushedRequest,
                    &id_hash("par-missing", &sfx),
                    NOW,
                    &grant_2,
                    &code_2,
                )
                .await,
            "consume missing",
        )?,
        Consumed::Missing,
        "a missing artifact is Missing",
    )?;
    ensure_eq(
        ok(store.get_grant(o, "issue-2").await, "get grant 2 again")?,
        None,
        "still no grant",
    )?;

    // A conflicting insert undoes the consumption: all or nothing.
    let second = artifact(ArtifactKind::PushedRequest, id_hash("par-2", &sfx), o, None);
    ok(store.insert_artifact(&second).await, "insert second pushed")?;
    let conflict = store
        .consume_artifact_and_issue(second.kind, &second.id_hash, NOW + 5, &grant_1, &code_2)
        .await;
    ensure(
        matches!(conflict, Err(StoreError::Conflict(_))),
        "an existing grant id is a Conflict",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(second.kind, &second.id_hash).await,
            "get second",
        )?,
        Some(second.clone()),
        "the failed transaction left the artifact unused",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(code_2.kind, &code_2.id_hash).await,
            "get code 2 after conflict",
        )?,
        None,
        "the failed transaction stored no issued artifact",
    )?;
    Ok(())
}

pub async fn check_flow_consume(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_rec = org(&format!("conf-use-{sfx}"));
    ok(store.insert_organization(&org_rec).await, "insert org")?;
    let o = org_rec.id.as_str();

    // Fresh, then AlreadyUsed showing when; the record is the stored one with used_at set.
    let code = artifact(
        ArtifactKind::AuthorizationCode,
        id_hash("code", &sfx),
        o,
        Some("g-1"),
    );
    ok(store.insert_artifact(&code).await, "insert code")?;
    ensure_eq(
        ok(
            store
                .consume_artifact(code.kind, &code.id_hash, NOW + 5)
                .await,
            "consume",
        )?,
        Consumed::Fresh(used(&code, NOW + 5)),
        "first consumption is Fresh and returns the artifact with used_at = now",
    )?;
    ensure_eq(
        ok(store.get_artifact(code.kind, &code.id_hash).await, "get")?,
        Some(used(&code, NOW + 5)),
        "a consumed artifact records used_at",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(code.kind, &code.id_hash, NOW + 6)
                .await,
            "consume again",
        )?,
        Consumed::AlreadyUsed(used(&code, NOW + 5)),
        "second consumption is AlreadyUsed, with the first used_at",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(code.kind, &code.id_hash, NOW + 500)
                .await,
            "consume after expiry",
        )?,
        Consumed::AlreadyUsed(used(&code, NOW + 5)),
        "a used artifact stays AlreadyUsed after it expires",
    )?;

    // Expired: at and after expires_at; it stays unused, so it is not consumed by asking.
    let par = artifact(ArtifactKind::PushedRequest, id_hash("par", &sfx), o, None);
    ok(store.insert_artifact(&par).await, "insert par")?;
    ensure_eq(
        ok(
            store
                .consume_artifact(par.kind, &par.id_hash, par.expires_at)
                .await,
            "consume at expires_at",
        )?,
        Consumed::Expired(par.clone()),
        "at expires_at the artifact is Expired",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(par.kind, &par.id_hash, par.expires_at + 1000)
                .await,
            "consume after expires_at",
        )?,
        Consumed::Expired(par.clone()),
        "after expires_at the artifact is Expired",
    )?;
    ensure_eq(
        ok(store.get_artifact(par.kind, &par.id_hash).await, "get par")?,
        Some(par.clone()),
        "an Expired report leaves the artifact unused",
    )?;
    // The store judges expiry only by the `now` it is given.
    ensure_eq(
        ok(
            store
                .consume_artifact(par.kind, &par.id_hash, par.expires_at - 1)
                .await,
            "consume just before expires_at",
        )?,
        Consumed::Fresh(used(&par, par.expires_at - 1)),
        "one second before expires_at the artifact is Fresh",
    )?;

    ensure_eq(
        ok(
            store
                .consume_artifact(ArtifactKind::RefreshToken, &id_hash("never", &sfx), NOW)
                .await,
            "consume missing",
        )?,
        Consumed::Missing,
        "a never-issued artifact is Missing",
    )?;

    // The kind is part of the key: consuming one leaves the other unused.
    let shared = id_hash("shared", &sfx);
    let session = artifact(ArtifactKind::Session, shared.clone(), o, None);
    let interaction = artifact(ArtifactKind::Interaction, shared.clone(), o, None);
    ensure_eq(
        ok(
            store.consume_artifact(session.kind, &shared, NOW).await,
            "consume before insert",
        )?,
        Consumed::Missing,
        "Missing before insert",
    )?;
    ok(store.insert_artifact(&session).await, "insert session")?;
    ensure_eq(
        ok(
            store
                .consume_artifact(ArtifactKind::AuthorizationCode, &shared, NOW)
                .await,
            "consume under another kind",
        )?,
        Consumed::Missing,
        "a session cannot be consumed as a code",
    )?;
    ok(
        store.insert_artifact(&interaction).await,
        "insert interaction",
    )?;
    ensure_eq(
        ok(
            store.consume_artifact(session.kind, &shared, NOW + 1).await,
            "consume session",
        )?,
        Consumed::Fresh(used(&session, NOW + 1)),
        "session consumed",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(interaction.kind, &shared).await,
            "get interaction",
        )?,
        Some(interaction.clone()),
        "the same hash under another kind is still unused",
    )?;
    ensure_eq(
        ok(
            store
                .consume_artifact(interaction.kind, &shared, NOW + 2)
                .await,
            "consume interaction",
        )?,
        Consumed::Fresh(used(&interaction, NOW + 2)),
        "the same hash under another kind is consumed on its own",
    )?;

    // An artifact stored as already used is never Fresh.
    let pre_used = ArtifactRecord {
        used_at: Some(NOW - 1),
        ..artifact(
            ArtifactKind::RefreshToken,
            id_hash("pre-used", &sfx),
            o,
            None,
        )
    };
    ok(store.insert_artifact(&pre_used).await, "insert used")?;
    ensure_eq(
        ok(
            store
                .consume_artifact(pre_used.kind, &pre_used.id_hash, NOW)
                .await,
            "consume stored-as-used",
        )?,
        Consumed::AlreadyUsed(pre_used.clone()),
        "an artifact inserted with used_at is AlreadyUsed",
    )?;

    ok(store.delete_organization(o).await, "delete org")
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

/// `delete_client_artifacts`: every artifact of the kind and client goes, and nothing else — not
/// another kind of the same client, not another client's, not one without a client, not the same
/// client id's in another organization.
pub async fn check_flow_delete_client_artifacts(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_a = org(&format!("conf-del-client-art-a-{sfx}"));
    let org_b = org(&format!("conf-del-client-art-b-{sfx}"));
    for o in [&org_a, &org_b] {
        ok(store.insert_organization(o).await, "insert org")?;
    }
    let (a, b) = (org_a.id.as_str(), org_b.id.as_str());
    let rat = ArtifactKind::RegistrationAccessToken;
    let of =
        |tag: &str, kind: ArtifactKind, org_id: &str, client_id: Option<&str>| ArtifactRecord {
            client_id: client_id.map(str::to_owned),
            ..artifact(kind, id_hash(tag, &sfx), org_id, None)
        };
    let doomed = [
        of("rat-1", rat, a, Some("client-ü")),
        of("rat-2", rat, a, Some("client-ü")),
    ];
    let kept = [
        of("code", ArtifactKind::AuthorizationCode, a, Some("client-ü")),
        of("other-client", rat, a, Some("client-other")),
        of("no-client", rat, a, None),
        of("other-org", rat, b, Some("client-ü")),
    ];
    for artifact in doomed.iter().chain(&kept) {
        ok(store.insert_artifact(artifact).await, "insert artifact")?;
    }

    ensure_eq(
        ok(
            store.delete_client_artifacts(rat, a, "client-ü").await,
            "delete client artifacts",
        )?,
        2,
        "delete_client_artifacts counts what it deleted",
    )?;
    for gone in &doomed {
        ensure_eq(
            ok(store.get_artifact(gone.kind, &gone.id_hash).await, "get")?,
            None,
            "the client's artifacts of the kind are deleted",
        )?;
    }
    for stays in &kept {
        ensure_eq(
            ok(store.get_artifact(stays.kind, &stays.id_hash).await, "get")?,
            Some(stays.clone()),
            "other kinds, clients and organizations are untouched",
        )?;
    }
    ensure_eq(
        ok(
            store.delete_client_artifacts(rat, a, "client-ü").await,
            "delete client artifacts again",
        )?,
        0,
        "nothing left to delete",
    )?;

    ok(store.delete_organization(a).await, "delete org")?;
    ok(store.delete_organization(b).await, "delete org")
}

/// Grants: round trip, conflict, revoke once, and revocation deletes exactly the grant's artifacts.
pub async fn check_flow_grants(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let org_a = org(&format!("conf-grant-a-{sfx}"));
    let org_b = org(&format!("conf-grant-b-{sfx}"));
    ok(store.insert_organization(&org_a).await, "insert org a")?;
    ok(store.insert_organization(&org_b).await, "insert org b")?;
    let (a, b) = (org_a.id.as_str(), org_b.id.as_str());

    let g1 = grant(a, "grant-1", Some("user-ü"));
    let g2 = GrantRecord {
        client_id: "client-2".to_owned(),
        payload_json: "{}".to_owned(),
        created_at: NOW + 1,
        expires_at: NOW + 2,
        ..grant(a, "grant-2", None)
    };
    let pre_revoked = GrantRecord {
        revoked_at: Some(NOW - 10),
        ..grant(a, "grant-3", Some("u"))
    };
    // The same grant id in another organization is another grant.
    let b1 = grant(b, "grant-1", Some("user-ü"));
    for g in [&g1, &g2, &pre_revoked, &b1] {
        ok(store.insert_grant(g).await, "insert grant")?;
    }
    for g in [&g1, &g2, &pre_revoked, &b1] {
        ensure_eq(
            ok(store.get_grant(&g.org_id, &g.grant_id).await, "get grant")?,
            Some(g.clone()),
            "grant round-trips, every field",
        )?;
    }
    ensure_eq(
        ok(store.get_grant(a, "grant-missing").await, "get missing")?,
        None,
        "a missing grant is absent",
    )?;
    conflict(
        store
            .insert_grant(&GrantRecord {
                payload_json: r#"{"impostor":true}"#.to_owned(),
                ..g1.clone()
            })
            .await,
        "insert duplicate grant",
    )?;
    ensure_eq(
        ok(store.get_grant(a, "grant-1").await, "get grant")?,
        Some(g1.clone()),
        "a refused duplicate leaves the original",
    )?;
    refused(
        store
            .insert_grant(&grant(&format!("conf-grant-missing-{sfx}"), "g", None))
            .await,
        "insert grant of a missing org",
    )?;

    // Artifacts of grant-1 (a code, already used, and a refresh token), of grant-2, of the same
    // grant id in org b, and without a grant.
    let g1_code = ArtifactRecord {
        used_at: Some(NOW),
        ..artifact(
            ArtifactKind::AuthorizationCode,
            id_hash("g1-code", &sfx),
            a,
            Some("grant-1"),
        )
    };
    let g1_refresh = artifact(
        ArtifactKind::RefreshToken,
        id_hash("g1-refresh", &sfx),
        a,
        Some("grant-1"),
    );
    let g2_refresh = artifact(
        ArtifactKind::RefreshToken,
        id_hash("g2-refresh", &sfx),
        a,
        Some("grant-2"),
    );
    let b1_refresh = artifact(
        ArtifactKind::RefreshToken,
        id_hash("b1-refresh", &sfx),
        b,
        Some("grant-1"),
    );
    let session = artifact(ArtifactKind::Session, id_hash("session", &sfx), a, None);
    for art in [&g1_code, &g1_refresh, &g2_refresh, &b1_refresh, &session] {
        ok(store.insert_artifact(art).await, "insert artifact")?;
    }

    ensure(
        ok(store.revoke_grant(a, "grant-1", NOW + 100).await, "revoke")?,
        "the first revocation reports true",
    )?;
    let g1_revoked = GrantRecord {
        revoked_at: Some(NOW + 100),
        ..g1.clone()
    };
    ensure_eq(
        ok(store.get_grant(a, "grant-1").await, "get revoked")?,
        Some(g1_revoked.clone()),
        "revoke_grant sets revoked_at and nothing else",
    )?;
    for art in [&g1_code, &g1_refresh] {
        ensure_eq(
            ok(store.get_artifact(art.kind, &art.id_hash).await, "get")?,
            None,
            "revoking a grant deletes its artifacts",
        )?;
    }
    ensure_eq(
        ok(
            store
                .consume_artifact(g1_refresh.kind, &g1_refresh.id_hash, NOW + 101)
                .await,
            "consume revoked",
        )?,
        Consumed::Missing,
        "a revoked grant's refresh token is Missing",
    )?;
    for art in [&g2_refresh, &b1_refresh, &session] {
        ensure_eq(
            ok(store.get_artifact(art.kind, &art.id_hash).await, "get")?,
            Some(art.clone()),
            "revoking a grant keeps other grants' (and other orgs') artifacts",
        )?;
    }
    ensure_eq(
        ok(store.get_grant(b, "grant-1").await, "get org b grant")?,
        Some(b1.clone()),
        "revocation is scoped to the organization",
    )?;
    ensure_eq(
        ok(store.get_grant(a, "grant-2").await, "get grant-2")?,
        Some(g2.clone()),
        "revocation leaves other grants alone",
    )?;

    // Revoking again: false, the first revoked_at stays, and a straggler artifact still goes.
    let straggler = artifact(
        ArtifactKind::RefreshToken,
        id_hash("straggler", &sfx),
        a,
        Some("grant-1"),
    );
    ok(store.insert_artifact(&straggler).await, "insert straggler")?;
    ensure(
        !ok(
            store.revoke_grant(a, "grant-1", NOW + 200).await,
            "revoke twice",
        )?,
        "a second revocation reports false",
    )?;
    ensure_eq(
        ok(store.get_grant(a, "grant-1").await, "get revoked")?,
        Some(g1_revoked),
        "a second revocation keeps the first revoked_at",
    )?;
    ensure_eq(
        ok(
            store.get_artifact(straggler.kind, &straggler.id_hash).await,
            "get straggler",
        )?,
        None,
        "revoking a revoked grant still deletes its artifacts",
    )?;
    ensure(
        !ok(
            store.revoke_grant(a, "grant-3", NOW + 200).await,
            "revoke stored-as-revoked",
        )?,
        "a grant stored as revoked is not revoked again",
    )?;
    ensure_eq(
        ok(store.get_grant(a, "grant-3").await, "get grant-3")?,
        Some(pre_revoked),
        "a grant stored as revoked keeps its revoked_at",
    )?;
    ensure(
        !ok(
            store.revoke_grant(a, "grant-missing", NOW).await,
            "revoke missing",
        )?,
        "revoking a missing grant reports false",
    )?;
    ensure_eq(
        ok(store.get_grant(a, "grant-missing").await, "get missing")?,
        None,
        "revoking a missing grant creates nothing",
    )?;

    ok(store.delete_organization(a).await, "delete org a")?;
    ok(store.delete_organization(b).await, "delete org b")
}

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

/// Counters: count within a window, restart in a newer one, read 0 for an older or absent one.
pub async fn check_flow_counters(store: &dyn StoreWithFlow) -> CheckResult {
    let key = format!("conf-counter-{}", unique_suffix());
    let other = format!("{key}-other");
    let w1 = NOW;
    let w2 = NOW + 300;

    ensure_eq(
        ok(store.read_counter(&key, w1).await, "read absent")?,
        0,
        "an absent counter reads 0",
    )?;
    for want in 1..=3 {
        ensure_eq(
            ok(store.bump_counter(&key, w1, w1 + want).await, "bump")?,
            want,
            "bump_counter counts 1, 2, 3 within a window",
        )?;
    }
    ensure_eq(
        ok(store.read_counter(&key, w1).await, "read")?,
        3,
        "read_counter reads the window's count",
    )?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read newer window")?,
        0,
        "a counter of an older window reads 0",
    )?;
    ensure_eq(
        ok(store.bump_counter(&other, w1, w1).await, "bump other")?,
        1,
        "counters are per key",
    )?;

    ensure_eq(
        ok(store.bump_counter(&key, w2, w2).await, "bump newer window")?,
        1,
        "a newer window restarts at 1",
    )?;
    ensure_eq(
        ok(store.bump_counter(&key, w2, w2 + 1).await, "bump")?,
        2,
        "and counts on",
    )?;
    // A node whose clock lags counts into the stored (newer) window; it never restarts it.
    ensure_eq(
        ok(
            store.bump_counter(&key, w1, w1 + 4).await,
            "bump older window",
        )?,
        3,
        "a bump for an older window counts on in the stored window",
    )?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read")?,
        3,
        "read_counter after the restart",
    )?;
    ensure_eq(
        ok(store.read_counter(&other, w1).await, "read other")?,
        1,
        "the other key is untouched",
    )?;

    ok(store.reset_counter(&key).await, "reset")?;
    ensure_eq(
        ok(store.read_counter(&key, w2).await, "read reset")?,
        0,
        "a reset counter reads 0",
    )?;
    ensure_eq(
        ok(
            store.bump_counter(&key, w2, w2 + 2).await,
            "bump after reset",
        )?,
        1,
        "a reset counter restarts at 1",
    )?;
    ensure_eq(
        ok(store.read_counter(&other, w1).await, "read other")?,
        1,
        "reset is per key",
    )?;
    ok(store.reset_counter(&key).await, "reset")?;
    ok(store.reset_counter(&key).await, "reset an absent counter")?;
    ok(store.reset_counter(&other).await, "reset other")
}

/// Deleting an organization deletes its artifacts, grants and consents, and nothing of others'.
pub async fn check_flow_delete_organization_cascades(store: &dyn StoreWithFlow) -> CheckResult {
    let sfx = unique_suffix();
    let doomed = org(&format!("conf-flow-del-a-{sfx}"));
    let kept = org(&format!("conf-flow-del-b-{sfx}"));
    ok(store.insert_organization(&doomed).await, "insert doomed")?;
    ok(store.insert_organization(&kept).await, "insert kept")?;
    let (d, k) = (doomed.id.as_str(), kept.id.as_str());

    let doomed_code = artifact(
        ArtifactKind::AuthorizationCode,
        id_hash("doomed", &sfx),
        d,
        Some("g"),
    );
    let doomed_session = artifact(ArtifactKind::Session, id_hash("doomed-s", &sfx), d, None);
    let kept_code = artifact(
        ArtifactKind::AuthorizationCode,
        id_hash("kept", &sfx),
        k,
        Some("g"),
    );
    for art in [&doomed_code, &doomed_session, &kept_code] {
        ok(store.insert_artifact(art).await, "insert artifact")?;
    }
    for o in [d, k] {
        ok(
            store.insert_grant(&grant(o, "g", Some("u"))).await,
            "insert grant",
        )?;
        ok(
            store.upsert_consent(&consent(o, "u", "c", "openid")).await,
            "insert consent",
        )?;
    }

    ok(store.delete_organization(d).await, "delete organization")?;
    for art in [&doomed_code, &doomed_session] {
        ensure_eq(
            ok(store.get_artifact(art.kind, &art.id_hash).await, "get")?,
            None,
            "the organization's artifacts are gone",
        )?;
    }
    ensure_eq(
        ok(store.get_grant(d, "g").await, "get grant")?,
        None,
        "the organization's grant is gone",
    )?;
    ensure_eq(
        ok(store.get_consent(d, "u", "c").await, "get consent")?,
        None,
        "the organization's consent is gone",
    )?;

    ensure_eq(
        ok(
            store.get_artifact(kept_code.kind, &kept_code.id_hash).await,
            "get kept artifact",
        )?,
        Some(kept_code.clone()),
        "other org's artifact survives",
    )?;
    ensure_eq(
        ok(store.get_grant(k, "g").await, "get kept grant")?,
        Some(grant(k, "g", Some("u"))),
        "other org's grant survives",
    )?;
    ensure_eq(
        ok(store.get_consent(k, "u", "c").await, "get kept consent")?,
        Some(consent(k, "u", "c", "openid")),
        "other org's consent survives",
    )?;

    // The id can be reused, and nothing was left behind to collide with.
    ok(store.insert_organization(&doomed).await, "re-create org")?;
    ensure_eq(
        ok(store.get_consent(d, "u", "c").await, "get consent")?,
        None,
        "re-created org has no consent",
    )?;
    ok(
        store.insert_artifact(&doomed_code).await,
        "re-insert the same artifact",
    )?;
    ok(
        store.insert_grant(&grant(d, "g", None)).await,
        "re-insert the same grant id",
    )?;

    ok(store.delete_organization(d).await, "delete doomed")?;
    ok(store.delete_organization(k).await, "delete kept")?;
    ensure_eq(
        ok(
            store.get_artifact(kept_code.kind, &kept_code.id_hash).await,
            "get kept artifact",
        )?,
        None,
        "an artifact goes with its org",
    )
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
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.join("conformance.rs")];
        if let Ok(dir) = std::fs::read_dir(src.join("conformance")) {
            files.extend(dir.map(|entry| entry.unwrap().path()));
        }
        let mut names = Vec::new();
        for file in files.iter().filter(|f| f.exists()) {
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

//! The conformance suite every [`Store`] implementation must pass.
//!
//! [`run_all`] runs every check and panics with the first failure, like a test; [`check_all`] and
//! the individual `check_*` functions return the failure instead. Every check makes its own
//! organizations, namespaces and token hashes from [`unique_suffix`], so the suite can run again
//! and again against the same database, and alongside itself. Two checks do touch rows that are
//! not their own: `delete_admin_tokens(None)` removes every server-level admin token, and the purge
//! methods remove whatever expired before the (fixed, long past) instants the suite uses.
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
    AdminTokenRecord, ClientRecord, KeyStatus, OrganizationRecord, SigningKeyRecord, Store,
    StoreError, StoreResult, UnixSeconds, UserRecord,
};

/// The "current time" of the suite: fixed, so that runs never depend on the clock.
const NOW: UnixSeconds = 1_700_000_000;

/// How many `record_once` calls race on one key.
const RACERS: usize = 16;

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

/// Runs every check; panics with the first failure. This is the entry point for tests.
#[allow(clippy::panic)] // A test harness: failing loudly is its purpose.
pub async fn run_all(store: &dyn Store) {
    if let Err(failure) = check_all(store).await {
        panic!("store conformance failed at {failure}");
    }
}

/// Runs every check; returns the first failure.
pub async fn check_all(store: &dyn Store) -> CheckResult {
    check_ping(store).await?;
    check_organizations(store).await?;
    check_admin_tokens(store).await?;
    check_clients(store).await?;
    check_users(store).await?;
    check_signing_keys(store).await?;
    check_delete_organization_cascades(store).await?;
    check_record_once(store).await?;
    check_purge_expired_replays(store).await?;
    check_record_once_concurrent(store).await?;
    Ok(())
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

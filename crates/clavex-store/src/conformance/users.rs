//! Users: per-organization accounts, unique usernames and emails, login lookup.

use super::fixtures::{org, user};
use super::{CheckResult, NOW, conflict, ensure_eq, not_found, ok, refused, unique_suffix};
use crate::{Store, UserRecord};

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

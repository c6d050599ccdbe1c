//! Admin tokens: server-level and per-organization tokens, found by hash.

use super::{
    CheckResult, NOW, conflict, ensure, ensure_eq, fixtures::org, ok, refused, unique_suffix,
};
use crate::{AdminTokenRecord, Store};

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

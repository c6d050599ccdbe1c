//! Deleting an organization deletes everything it owns, in both repositories, and nothing of
//! other organizations.

use super::fixtures::{artifact, client, consent, grant, id_hash, key, org, user};
use super::{CheckResult, NOW, StoreWithFlow, ensure, ensure_eq, not_found, ok, unique_suffix};
use crate::{AdminTokenRecord, ArtifactKind, Store};

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

//! Artifacts (`FlowStore`): insert, get, delete, and deletion of one client's artifacts.

use super::fixtures::{ALL_KINDS, artifact, id_hash, org};
use super::{
    CheckResult, NOW, RETAIN, StoreWithFlow, conflict, ensure, ensure_eq, ok, refused,
    unique_suffix,
};
use crate::{ArtifactKind, ArtifactRecord, Consumed};

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

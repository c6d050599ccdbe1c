//! Consumption of single-use artifacts: `consume_artifact`, and `consume_artifact_and_issue`,
//! which stores a grant and the next artifact only when the consumption won.

use super::fixtures::{artifact, grant, id_hash, org, used};
use super::{CheckResult, NOW, StoreWithFlow, ensure, ensure_eq, ok, unique_suffix};
use crate::{ArtifactKind, ArtifactRecord, Consumed, StoreError};

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

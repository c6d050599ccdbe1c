//! Grants: round trip, revocation of one grant or of every grant of a user, and the artifacts
//! and consents that go with them.

use super::fixtures::{artifact, consent, grant, id_hash, org};
use super::{
    CheckResult, NOW, StoreWithFlow, conflict, ensure, ensure_eq, ok, refused, unique_suffix,
};
use crate::{ArtifactKind, ArtifactRecord, Consumed, GrantRecord};

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

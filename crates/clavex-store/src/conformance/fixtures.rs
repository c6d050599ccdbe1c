//! The records the checks store, shared by the areas. Text fields carry non-ASCII, quotes and JSON
//! escapes, binary fields bytes that no text encoding carries intact, so that no encoding can hide
//! in a round trip.

use super::{NOW, RETAIN};
use crate::{
    ArtifactKind, ArtifactRecord, ClientRecord, ConsentRecord, GrantRecord, KeyStatus,
    OrganizationRecord, SigningKeyRecord, UnixSeconds, UserRecord,
};

pub(super) fn org(id: &str) -> OrganizationRecord {
    OrganizationRecord {
        id: id.to_owned(),
        display_name: "Ünïcødé — \"quoted\" 'name' 🗝".to_owned(),
        settings_json: r#"{"a":[1,2,{"b":null}],"s":"x\"y\\z","n":-1.5e3}"#.to_owned(),
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(super) fn client(org_id: &str, client_id: &str) -> ClientRecord {
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

pub(super) fn user(org_id: &str, user_id: &str, username: &str, email: Option<&str>) -> UserRecord {
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

pub(super) fn key(org_id: &str, kid: &str, alg: &str, created_at: UnixSeconds) -> SigningKeyRecord {
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

/// Every artifact kind; a new kind must be added here to be covered.
pub(super) const ALL_KINDS: [ArtifactKind; 7] = [
    ArtifactKind::PushedRequest,
    ArtifactKind::AuthorizationCode,
    ArtifactKind::RefreshToken,
    ArtifactKind::Session,
    ArtifactKind::Interaction,
    ArtifactKind::InitialAccessToken,
    ArtifactKind::RegistrationAccessToken,
];

/// A binary id hash unique to `tag` and `sfx`, with bytes no text encoding would carry intact.
pub(super) fn id_hash(tag: &str, sfx: &str) -> Vec<u8> {
    let mut h = vec![0u8, 255, 128, 1, 254, 0];
    h.extend_from_slice(format!("{tag}-{sfx}").as_bytes());
    h
}

/// An unused artifact, valid for 60 s from `NOW`, retained until [`RETAIN`].
pub(super) fn artifact(
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

pub(super) fn grant(org_id: &str, grant_id: &str, user_id: Option<&str>) -> GrantRecord {
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

pub(super) fn consent(org_id: &str, user_id: &str, client_id: &str, scope: &str) -> ConsentRecord {
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
pub(super) fn used(artifact: &ArtifactRecord, now: UnixSeconds) -> ArtifactRecord {
    ArtifactRecord {
        used_at: Some(now),
        ..artifact.clone()
    }
}

//! Rows as plain tuples, which decode the same way on both backends, and their conversion into the
//! records of the repository traits. A stored value the crate cannot have written (an unknown key
//! status or artifact kind) is a `Backend` error, never a guess.

use crate::{
    AdminTokenRecord, ArtifactKind, ArtifactRecord, ClientRecord, ConsentRecord, Consumed,
    GrantRecord, KeyStatus, OrganizationRecord, SigningKeyRecord, StoreError, StoreResult,
    UserRecord,
};

pub(crate) type OrgRow = (String, String, String, i64, i64);
pub(crate) type AdminTokenRow = (Vec<u8>, Option<String>, String, i64);
pub(crate) type ClientRow = (String, String, String, i64, i64);
pub(crate) type UserRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
);
pub(crate) type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
);

pub(crate) type ArtifactRow = (
    String,
    Vec<u8>,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);
pub(crate) type GrantRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
);
pub(crate) type ConsentRow = (String, String, String, String, i64, i64);

pub(crate) fn org_from_row(row: OrgRow) -> OrganizationRecord {
    let (id, display_name, settings_json, created_at, updated_at) = row;
    OrganizationRecord {
        id,
        display_name,
        settings_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn admin_token_from_row(row: AdminTokenRow) -> AdminTokenRecord {
    let (token_hash, org_id, label, created_at) = row;
    AdminTokenRecord {
        token_hash,
        org_id,
        label,
        created_at,
    }
}

pub(crate) fn client_from_row(row: ClientRow) -> ClientRecord {
    let (org_id, client_id, metadata_json, created_at, updated_at) = row;
    ClientRecord {
        org_id,
        client_id,
        metadata_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn user_from_row(row: UserRow) -> UserRecord {
    let (org_id, user_id, username, email, password_hash, claims_json, created_at, updated_at) =
        row;
    UserRecord {
        org_id,
        user_id,
        username,
        email,
        password_hash,
        claims_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn key_from_row(row: KeyRow) -> StoreResult<SigningKeyRecord> {
    let (
        org_id,
        kid,
        alg,
        status,
        public_jwk_json,
        sealed_private_key,
        created_at,
        retired_at,
        publish_until,
    ) = row;
    let status = KeyStatus::parse(&status).ok_or_else(|| {
        StoreError::Backend(format!(
            "signing key {org_id}/{kid} has an unknown status {status:?}"
        ))
    })?;
    Ok(SigningKeyRecord {
        org_id,
        kid,
        alg,
        status,
        public_jwk_json,
        sealed_private_key,
        created_at,
        retired_at,
        publish_until,
    })
}

/// The inverse of [`ArtifactKind::as_str`].
pub(crate) fn artifact_kind_from_str(value: &str) -> Option<ArtifactKind> {
    let kind = match value {
        "par" => ArtifactKind::PushedRequest,
        "code" => ArtifactKind::AuthorizationCode,
        "refresh_token" => ArtifactKind::RefreshToken,
        "session" => ArtifactKind::Session,
        "interaction" => ArtifactKind::Interaction,
        "initial_access_token" => ArtifactKind::InitialAccessToken,
        "registration_access_token" => ArtifactKind::RegistrationAccessToken,
        _ => return None,
    };
    Some(kind)
}

pub(crate) fn artifact_from_row(row: ArtifactRow) -> StoreResult<ArtifactRecord> {
    let (
        kind,
        id_hash,
        org_id,
        client_id,
        grant_id,
        payload_json,
        created_at,
        expires_at,
        retain_until,
        used_at,
    ) = row;
    let kind = artifact_kind_from_str(&kind).ok_or_else(|| {
        StoreError::Backend(format!(
            "artifact of org {org_id} has an unknown kind {kind:?}"
        ))
    })?;
    Ok(ArtifactRecord {
        kind,
        id_hash,
        org_id,
        client_id,
        grant_id,
        payload_json,
        created_at,
        expires_at,
        retain_until,
        used_at,
    })
}

/// What `consume_artifact` reports when its atomic update took no row: `current` is the artifact
/// as read just after (or `None`). A used artifact is `AlreadyUsed` even when also expired.
pub(crate) fn not_consumed(current: Option<ArtifactRecord>, now: i64) -> Consumed {
    match current {
        None => Consumed::Missing,
        Some(artifact) if artifact.used_at.is_some() => Consumed::AlreadyUsed(artifact),
        Some(artifact) if artifact.expires_at <= now => Consumed::Expired(artifact),
        // Unused and live, yet the update did not see it: it was inserted after the update ran
        // (only a race with its own issuance can do that), so at that instant it was missing.
        Some(_) => Consumed::Missing,
    }
}

pub(crate) fn grant_from_row(row: GrantRow) -> GrantRecord {
    let (grant_id, org_id, client_id, user_id, payload_json, created_at, expires_at, revoked_at) =
        row;
    GrantRecord {
        grant_id,
        org_id,
        client_id,
        user_id,
        payload_json,
        created_at,
        expires_at,
        revoked_at,
    }
}

pub(crate) fn consent_from_row(row: ConsentRow) -> ConsentRecord {
    let (org_id, user_id, client_id, scope, created_at, updated_at) = row;
    ConsentRecord {
        org_id,
        user_id,
        client_id,
        scope,
        created_at,
        updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_kinds_round_trip() {
        for kind in [
            ArtifactKind::PushedRequest,
            ArtifactKind::AuthorizationCode,
            ArtifactKind::RefreshToken,
            ArtifactKind::Session,
            ArtifactKind::Interaction,
            ArtifactKind::InitialAccessToken,
            ArtifactKind::RegistrationAccessToken,
        ] {
            // Stops compiling when a kind is added: list it above and in `artifact_kind_from_str`.
            match kind {
                ArtifactKind::PushedRequest
                | ArtifactKind::AuthorizationCode
                | ArtifactKind::RefreshToken
                | ArtifactKind::Session
                | ArtifactKind::Interaction
                | ArtifactKind::InitialAccessToken
                | ArtifactKind::RegistrationAccessToken => {}
            }
            assert_eq!(artifact_kind_from_str(kind.as_str()), Some(kind));
        }
        assert_eq!(artifact_kind_from_str("PAR"), None);
        assert_eq!(artifact_kind_from_str(""), None);
    }
}

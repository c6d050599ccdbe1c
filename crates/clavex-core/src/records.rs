//! Stored records, decoded: the one place where the JSON columns of the store's records become
//! typed values — organization settings, client metadata (with its parsed inline keys), user
//! claims and public keys. Artifact and grant payloads are decoded by [`crate::artifacts::Payload`]
//! (`of_artifact`, `of_grant`). Flows and admin operations call these and never parse a column
//! themselves.
//!
//! The store crate cannot own this decoding: it sits below the engine and keeps these columns as
//! text, while the types they decode into (`OrgSettings`, `ClientMetadata`, …) belong to the
//! engine.
//!
//! A column that does not decode is an internal error (the store holds only what the engine wrote),
//! except user claims, which read as none.

use std::sync::Arc;

use clavex_jose::JwkSet;
use clavex_store::{ClientRecord, OrganizationRecord, SigningKeyRecord, UserRecord};
use serde_json::{Map, Value};

use crate::client::{ClientMetadata, ResolvedClient};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::settings::OrgSettings;

/// The organization's id, parsed again (it was parsed when the organization was created).
pub(crate) fn org_id(record: &OrganizationRecord) -> Result<OrgId> {
    OrgId::parse(&record.id)
        .map_err(|e| Error::internal(format!("stored organization id {}", record.id), e))
}

pub(crate) fn org_settings(record: &OrganizationRecord) -> Result<OrgSettings> {
    serde_json::from_str(&record.settings_json)
        .map_err(|e| Error::internal(format!("settings of organization {}", record.id), e))
}

pub(crate) fn client_metadata(record: &ClientRecord) -> Result<ClientMetadata> {
    serde_json::from_str(&record.metadata_json)
        .map_err(|e| Error::internal(format!("metadata of client {}", record.client_id), e))
}

/// The client with its inline `jwks` parsed, ready for authentication.
pub(crate) fn resolved_client(record: &ClientRecord) -> Result<ResolvedClient> {
    let metadata = client_metadata(record)?;
    let inline_keys = match &metadata.jwks {
        Some(jwks) => Some(Arc::new(JwkSet::from_json(jwks).map_err(|e| {
            Error::internal(format!("stored jwks of {}", record.client_id), e)
        })?)),
        None => None,
    };
    Ok(ResolvedClient {
        metadata,
        inline_keys,
    })
}

/// The user's claims as stored: any JSON value, `{}` when the column does not decode.
pub(crate) fn stored_user_claims(record: &UserRecord) -> Value {
    serde_json::from_str(&record.claims_json).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// The user's claims as a map: none when the stored value is not a JSON object.
pub(crate) fn user_claims(record: &UserRecord) -> Map<String, Value> {
    match stored_user_claims(record) {
        Value::Object(claims) => claims,
        _ => Map::new(),
    }
}

/// The public JWK of a signing key.
pub(crate) fn public_jwk(record: &SigningKeyRecord) -> Result<Value> {
    serde_json::from_str(&record.public_jwk_json)
        .map_err(|e| Error::internal(format!("stored public key {}", record.kid), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn user(claims_json: &str) -> UserRecord {
        UserRecord {
            org_id: "acme".into(),
            user_id: "u1".into(),
            username: "alice".into(),
            email: None,
            password_hash: String::new(),
            claims_json: claims_json.into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn user_claims_fall_back_to_none() {
        let stored = user(r#"{"given_name":"Alice"}"#);
        assert_eq!(stored_user_claims(&stored), json!({"given_name": "Alice"}));
        assert_eq!(user_claims(&stored)["given_name"], "Alice");
        assert_eq!(stored_user_claims(&user("not json")), json!({}));
        assert!(user_claims(&user("not json")).is_empty());
        // Valid JSON that is not an object: shown as stored, but no claims.
        assert_eq!(stored_user_claims(&user("[1]")), json!([1]));
        assert!(user_claims(&user("[1]")).is_empty());
    }

    #[test]
    fn undecodable_columns_are_internal_errors() {
        let org = OrganizationRecord {
            id: "acme".into(),
            display_name: "ACME".into(),
            settings_json: "{".into(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(matches!(org_settings(&org), Err(Error::Internal { .. })));
        assert_eq!(org_id(&org).unwrap().as_str(), "acme");
        let renamed = OrganizationRecord {
            id: "ACME".into(),
            ..org
        };
        assert!(matches!(org_id(&renamed), Err(Error::Internal { .. })));
    }
}

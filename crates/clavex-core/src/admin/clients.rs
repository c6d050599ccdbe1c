//! Clients through the Admin API: registration under the organization's profile (the same rules as
//! RFC 7591 dynamic registration, `policy::registration`), reads, replacement and deletion.

use clavex_store::{ArtifactKind, ClientRecord};
use serde_json::Value;

use crate::client::ClientMetadata;
use crate::engine::Engine;
use crate::error::{Error, OAuthError, Result};
use crate::ids::{ClientId, OrgId};
use crate::policy::registration;
use crate::records;

/// The Admin API's answer for a client that does not exist (also for an id that could not be one,
/// or a client of an organization that could not exist: neither holds any client).
pub fn unknown_client(client_id: &str) -> Error {
    Error::NotFound(format!("client {client_id}"))
}

impl Engine {
    /// A `jwks_uri` this server would never fetch (plain http outside the allow-list) is refused at
    /// registration rather than failing every later authentication.
    fn check_jwks_uri_fetchable(&self, metadata: &ClientMetadata) -> Result<()> {
        match &metadata.jwks_uri {
            Some(uri) if !self.fetcher.permits(uri) => Err(OAuthError::invalid_client_metadata(
                "jwks_uri must be an https URL (plain http only for hosts in CLAVEX_JWKS_FETCH_ALLOW)",
            )
            .into()),
            _ => Ok(()),
        }
    }

    pub async fn register_client(&self, org_id: &OrgId, body: &Value) -> Result<ClientMetadata> {
        let org = self.org(org_id).await?;
        let client_id = match body.get("client_id") {
            None | Some(Value::Null) => ClientId::generate(),
            Some(Value::String(id)) => ClientId::parse(id).map_err(Error::OAuth)?,
            Some(_) => {
                return Err(
                    OAuthError::invalid_client_metadata("client_id must be a string").into(),
                );
            }
        };
        let now = self.now();
        let metadata =
            registration::validate_registration(org.settings.profile, body, client_id, now)
                .map_err(Error::OAuth)?;
        self.check_jwks_uri_fetchable(&metadata)?;
        let record = ClientRecord {
            org_id: org_id.to_string(),
            client_id: metadata.client_id.to_string(),
            metadata_json: serde_json::to_string(&metadata)
                .map_err(|e| Error::internal("encoding JSON", e))?,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_client(&record)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::Conflict(_) => {
                    Error::Conflict(format!("client {} already exists", metadata.client_id))
                }
                other => other.into(),
            })?;
        Ok(metadata)
    }

    pub async fn get_client(&self, org_id: &OrgId, client_id: &ClientId) -> Result<ClientMetadata> {
        let record = self
            .store
            .get_client(org_id.as_str(), client_id.as_str())
            .await?
            .ok_or_else(|| unknown_client(client_id.as_str()))?;
        records::client_metadata(&record)
    }

    pub async fn list_clients(&self, org_id: &OrgId) -> Result<Vec<ClientMetadata>> {
        self.org(org_id).await?;
        self.store
            .list_clients(org_id.as_str())
            .await?
            .iter()
            .map(records::client_metadata)
            .collect()
    }

    /// `PUT` replaces the metadata; `PATCH` (`merge = true`) merges top-level members first. Either way
    /// the result is validated as a fresh registration.
    pub async fn update_client(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        body: &Value,
        merge: bool,
    ) -> Result<ClientMetadata> {
        let org = self.org(org_id).await?;
        let mut record = self
            .store
            .get_client(org_id.as_str(), client_id.as_str())
            .await?
            .ok_or_else(|| unknown_client(client_id.as_str()))?;
        let current = records::client_metadata(&record)?;
        let incoming = body.as_object().ok_or_else(|| {
            OAuthError::invalid_client_metadata("client metadata must be a JSON object")
        })?;
        if let Some(id) = incoming.get("client_id")
            && id.as_str() != Some(client_id.as_str())
        {
            return Err(OAuthError::invalid_client_metadata("client_id cannot be changed").into());
        }
        let merged = if merge {
            let mut base =
                serde_json::to_value(&current).map_err(|e| Error::internal("encoding JSON", e))?;
            if let Some(obj) = base.as_object_mut() {
                for (k, v) in incoming {
                    if v.is_null() {
                        obj.remove(k);
                    } else {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                // A new key source replaces the other one rather than conflicting with it.
                if incoming.contains_key("jwks") && !incoming.contains_key("jwks_uri") {
                    obj.remove("jwks_uri");
                } else if incoming.contains_key("jwks_uri") && !incoming.contains_key("jwks") {
                    obj.remove("jwks");
                }
            }
            base
        } else {
            body.clone()
        };
        let metadata = registration::validate_registration(
            org.settings.profile,
            &merged,
            client_id.clone(),
            current.client_id_issued_at,
        )
        .map_err(Error::OAuth)?;
        self.check_jwks_uri_fetchable(&metadata)?;
        record.metadata_json =
            serde_json::to_string(&metadata).map_err(|e| Error::internal("encoding JSON", e))?;
        record.updated_at = self.now();
        self.store.update_client(&record).await?;
        self.forget_client(org_id, client_id).await;
        Ok(metadata)
    }

    /// Deletes a client and its RFC 7592 registration access token (if it was registered
    /// dynamically), whichever API deletes it.
    pub async fn delete_client(&self, org_id: &OrgId, client_id: &ClientId) -> Result<()> {
        self.store
            .delete_client(org_id.as_str(), client_id.as_str())
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => unknown_client(client_id.as_str()),
                other => other.into(),
            })?;
        self.forget_client(org_id, client_id).await;
        // After the client, so that a failed delete never leaves a client without its token. A
        // token left behind by a failure here is unusable (its client is gone) and is deleted when
        // it is next presented (`dcr_authenticate`); the client's deletion stands.
        if let Err(err) = self
            .store
            .delete_client_artifacts(
                ArtifactKind::RegistrationAccessToken,
                org_id.as_str(),
                client_id.as_str(),
            )
            .await
        {
            tracing::warn!(org = %org_id, client_id = %client_id, error = %err, "could not delete the registration access token of a deleted client");
        }
        Ok(())
    }
}

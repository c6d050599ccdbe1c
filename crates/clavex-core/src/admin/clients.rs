//! Clients through the Admin API: registration under the organization's profile (the same rules as
//! RFC 7591 dynamic registration, `policy::registration`), reads, replacement and deletion.

use clavex_store::{ArtifactKind, ClientRecord};
use serde_json::{Map, Value};

use crate::actor::AdminActor;
use crate::admin::{AdminRequest, changed_members, record_change};
use crate::client::ClientMetadata;
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, OAuthError, Result};
use crate::events::AdminChange;
use crate::ids::{ClientId, OrgId};
use crate::policy::registration;
use crate::records;

/// The Admin API's answer for a client that does not exist (also for an id that could not be one,
/// or a client of an organization that could not exist: neither holds any client).
pub fn unknown_client(client_id: &str) -> Error {
    Error::NotFound(format!("client {client_id}"))
}

/// `POST /api/v1/organizations/{org}/clients`: RFC 7591 client metadata and an optional
/// `client_id` (absent or `null`: the server chooses one). The members are checked under the
/// organization's profile by [`registration::validate_registration`] into the stored
/// [`ClientMetadata`]; unknown members are ignored (RFC 7591 §2).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateClient {
    pub client_id: Option<ClientId>,
    pub metadata: Map<String, Value>,
}

impl AdminRequest for CreateClient {
    fn from_json(body: &Value) -> Result<CreateClient> {
        let metadata = body
            .as_object()
            .ok_or_else(registration::metadata_not_an_object)?;
        let client_id = match metadata.get("client_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(ClientId::parse(id)?),
            Some(_) => {
                return Err(
                    OAuthError::invalid_client_metadata("client_id must be a string").into(),
                );
            }
        };
        Ok(CreateClient {
            client_id,
            metadata: metadata.clone(),
        })
    }
}

/// `PUT` (replace) or `PATCH` (merge: absent members stay, `null` ones are removed) of
/// `/api/v1/organizations/{org}/clients/{client_id}`: client metadata as for [`CreateClient`];
/// `client_id`, when sent, must be the client's own.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateClient {
    /// The `client_id` member as sent.
    pub client_id: Option<String>,
    pub metadata: Map<String, Value>,
}

impl AdminRequest for UpdateClient {
    fn from_json(body: &Value) -> Result<UpdateClient> {
        let metadata = body
            .as_object()
            .ok_or_else(registration::metadata_not_an_object)?;
        let client_id = match metadata.get("client_id") {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            // Not a string, so never the client's own id.
            Some(_) => return Err(client_id_changed()),
        };
        Ok(UpdateClient {
            client_id,
            metadata: metadata.clone(),
        })
    }
}

fn client_id_changed() -> Error {
    OAuthError::invalid_client_metadata("client_id cannot be changed").into()
}

/// The members a key change touches.
const KEY_MEMBERS: [&str; 2] = ["jwks", "jwks_uri"];

/// The event of a client change from `before` to `after`: a key change when `jwks` or `jwks_uri`
/// changed, an update otherwise.
fn record_client_update(
    actor: &AdminActor,
    connection: &ConnectionFacts,
    org_id: &OrgId,
    before: &ClientMetadata,
    after: &ClientMetadata,
) -> Result<()> {
    let encode =
        |metadata| serde_json::to_value(metadata).map_err(|e| Error::internal("encoding JSON", e));
    let changed = changed_members(&encode(before)?, &encode(after)?);
    let client_id = after.client_id.as_str();
    let change = if changed.iter().any(|m| KEY_MEMBERS.contains(&m.as_str())) {
        AdminChange::ClientKeysChanged {
            org_id: org_id.as_str(),
            client_id,
            changed: &changed,
        }
    } else {
        AdminChange::ClientUpdated {
            org_id: org_id.as_str(),
            client_id,
            changed: &changed,
        }
    };
    record_change(actor, connection, change);
    Ok(())
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

    pub async fn register_client(
        &self,
        org_id: &OrgId,
        request: CreateClient,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<ClientMetadata> {
        let metadata = self
            .insert_client(org_id, request.client_id, &request.metadata)
            .await?;
        record_change(
            actor,
            connection,
            AdminChange::ClientCreated {
                org_id: org_id.as_str(),
                client_id: metadata.client_id.as_str(),
            },
        );
        Ok(metadata)
    }

    /// Registers a client (for the Admin API and dynamic registration, which reports it itself).
    pub(crate) async fn insert_client(
        &self,
        org_id: &OrgId,
        client_id: Option<ClientId>,
        members: &Map<String, Value>,
    ) -> Result<ClientMetadata> {
        let org = self.org(org_id).await?;
        let client_id = match client_id {
            Some(id) => id,
            None => ClientId::generate(),
        };
        let now = self.now();
        let metadata =
            registration::validate_registration(org.settings.profile, members, client_id, now)
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
        request: UpdateClient,
        merge: bool,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<ClientMetadata> {
        let (before, after) = self
            .replace_client_metadata(org_id, client_id, &request, merge)
            .await?;
        record_client_update(actor, connection, org_id, &before, &after)?;
        Ok(after)
    }

    /// Replaces or merges a client's metadata (for the Admin API and dynamic registration, which
    /// reports it itself); returns the metadata before and after.
    pub(crate) async fn replace_client_metadata(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        request: &UpdateClient,
        merge: bool,
    ) -> Result<(ClientMetadata, ClientMetadata)> {
        let org = self.org(org_id).await?;
        let mut record = self
            .store
            .get_client(org_id.as_str(), client_id.as_str())
            .await?
            .ok_or_else(|| unknown_client(client_id.as_str()))?;
        let current = records::client_metadata(&record)?;
        if request
            .client_id
            .as_deref()
            .is_some_and(|id| id != client_id.as_str())
        {
            return Err(client_id_changed());
        }
        let incoming = &request.metadata;
        let merged = if merge {
            let base =
                serde_json::to_value(&current).map_err(|e| Error::internal("encoding JSON", e))?;
            let Value::Object(mut members) = base else {
                return Err(Error::invariant("client metadata is not an object"));
            };
            for (k, v) in incoming {
                if v.is_null() {
                    members.remove(k);
                } else {
                    members.insert(k.clone(), v.clone());
                }
            }
            // A new key source replaces the other one rather than conflicting with it.
            if incoming.contains_key("jwks") && !incoming.contains_key("jwks_uri") {
                members.remove("jwks_uri");
            } else if incoming.contains_key("jwks_uri") && !incoming.contains_key("jwks") {
                members.remove("jwks");
            }
            members
        } else {
            incoming.clone()
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
        Ok((current, metadata))
    }

    pub async fn delete_client(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<()> {
        self.remove_client(org_id, client_id).await?;
        record_change(
            actor,
            connection,
            AdminChange::ClientDeleted {
                org_id: org_id.as_str(),
                client_id: client_id.as_str(),
            },
        );
        Ok(())
    }

    /// Deletes a client and its RFC 7592 registration access token (if it was registered
    /// dynamically), whichever API deletes it (dynamic registration reports it itself).
    pub(crate) async fn remove_client(&self, org_id: &OrgId, client_id: &ClientId) -> Result<()> {
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

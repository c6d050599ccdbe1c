//! Dynamic client registration (RFC 7591) at `/{org}/register` and its management protocol
//! (RFC 7592) at `registration_client_uri` = `{issuer}/register/{client_id}`.
//!
//! A registration goes through the very same rules as the Admin API's (`Engine::insert_client`,
//! hence `policy::registration::validate_registration`); this module adds only who may register and manage:
//! - the organization setting `dynamic_registration` (`disabled`, `open`, `initial_access_token`);
//! - initial access tokens (RFC 7591 §3), issued through the Admin API and stored as SHA-256 hashes in
//!   [`ArtifactKind::InitialAccessToken`] artifacts: single-use ones are consumed atomically,
//!   multi-use ones only read until they expire;
//! - registration access tokens (RFC 7592 §3): 256 random bits, returned once, stored as SHA-256
//!   hashes in [`ArtifactKind::RegistrationAccessToken`] artifacts bound to the client (and to its
//!   `client_id_issued_at`, so a token never reaches a later client re-created under the same id).
//!
//! Every credential failure is the same `401 invalid_token`: a token of another client, an unknown
//! token and a token for a client that no longer exists look alike.

use std::net::IpAddr;
use std::sync::Arc;

use clavex_store::{ArtifactKind, ArtifactRecord, Consumed};
use serde_json::{Map, Value};

use crate::admin::UpdateClient;
use crate::artifacts::{InitialAccessTokenPayload, Payload, RegistrationTokenPayload, hash_secret};
use crate::client::ClientMetadata;
use crate::connection::ConnectionFacts;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::events::{self, DomainEvent};
use crate::ids::{ClientId, OrgId};
use crate::policy::registration;
use crate::records;
use crate::settings::DynamicRegistration;

/// Members of a client information response that only the server sets (RFC 7591 §3.2.1,
/// RFC 7592 §2.2/§3): ignored when a client sends them back (`client_id` is checked separately on
/// update).
const SERVER_SET_MEMBERS: [&str; 4] = [
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// `{issuer}/register`, as discovery lists it.
pub fn registration_endpoint(issuer: &str) -> String {
    format!("{issuer}/register")
}

/// `{issuer}/register/{client_id}` (RFC 7592 §2).
pub fn registration_client_uri(issuer: &str, client_id: &ClientId) -> String {
    format!("{issuer}/register/{client_id}")
}

/// Permission to register one client at `/{org}/register`: what [`Engine::dcr_permit`] checked.
pub struct RegistrationPermit {
    org: Arc<OrgContext>,
    /// Who registers (for the domain event).
    peer: IpAddr,
    /// The hash of a single-use initial access token, consumed when the registration succeeds.
    consume: Option<Vec<u8>>,
}

/// An authenticated RFC 7592 request: the client and the registration access token presented.
pub struct RegistrationAuth {
    org: Arc<OrgContext>,
    /// Who manages (for the domain events).
    peer: IpAddr,
    client: ClientMetadata,
    token: String,
}

impl RegistrationAuth {
    pub fn client_id(&self) -> &ClientId {
        &self.client.client_id
    }
}

fn invalid_token(description: &str) -> Error {
    OAuthError::new(ErrorCode::InvalidToken, description).into()
}

const REGISTRATION_TOKEN_INVALID: &str =
    "the registration access token is not valid for this client";

/// An RFC 7591 registration or RFC 7592 update body: client metadata (checked by
/// `policy::registration` as in the Admin API), without the members only the server sets.
/// `software_statement` is refused (not supported); other unknown members are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRegistrationRequest {
    /// `client_id` as sent, when it is a string: a registration ignores it, an update must send
    /// the client's own.
    pub client_id: Option<String>,
    /// The metadata members, without `client_id` and the server-set members.
    pub metadata: Map<String, Value>,
}

impl ClientRegistrationRequest {
    pub fn from_json(body: &Value) -> Result<ClientRegistrationRequest> {
        let mut metadata = body
            .as_object()
            .cloned()
            .ok_or_else(registration::metadata_not_an_object)?;
        if metadata.contains_key("software_statement") {
            return Err(OAuthError::new(
                ErrorCode::InvalidSoftwareStatement,
                "software statements are not supported; send the client metadata as plain JSON members",
            )
            .into());
        }
        for member in SERVER_SET_MEMBERS {
            metadata.remove(member);
        }
        let client_id = match metadata.remove("client_id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        Ok(ClientRegistrationRequest {
            client_id,
            metadata,
        })
    }
}

impl Engine {
    /// The organization, when dynamic registration is enabled for it; otherwise `NotFound`, as if the
    /// endpoint did not exist (discovery does not list it either).
    async fn dcr_org(&self, org_id: &OrgId) -> Result<Arc<OrgContext>> {
        let org = self.org(org_id).await?;
        if !org.settings.dynamic_registration.enabled() {
            return Err(Error::NotFound("registration endpoint".into()));
        }
        Ok(org)
    }

    /// May this request register a client? Checks the organization's policy and, under
    /// `initial_access_token`, the bearer token (missing, unknown, another organization's, expired
    /// or used: `invalid_token`). A single-use token is consumed only by a successful registration.
    pub async fn dcr_permit(
        &self,
        org_id: &OrgId,
        bearer: Option<&str>,
        connection: &ConnectionFacts,
    ) -> Result<RegistrationPermit> {
        let org = self.dcr_org(org_id).await?;
        let peer = connection.peer;
        match org.settings.dynamic_registration {
            DynamicRegistration::Open | DynamicRegistration::Disabled => Ok(RegistrationPermit {
                org,
                peer,
                consume: None,
            }),
            DynamicRegistration::InitialAccessToken => {
                let token = bearer.ok_or_else(|| {
                    invalid_token(
                        "an initial access token is required: send Authorization: Bearer <initial access token>",
                    )
                })?;
                let id_hash = hash_secret(token);
                let record = self
                    .store
                    .get_artifact(ArtifactKind::InitialAccessToken, &id_hash)
                    .await?
                    .filter(|r| r.org_id == org.record.id)
                    .ok_or_else(|| invalid_token("the initial access token is not valid"))?;
                if record.used_at.is_some() {
                    return Err(invalid_token(
                        "the initial access token has already been used",
                    ));
                }
                if record.expires_at <= self.now() {
                    return Err(invalid_token("the initial access token has expired"));
                }
                let payload = InitialAccessTokenPayload::of_artifact(&record)?;
                Ok(RegistrationPermit {
                    org,
                    peer,
                    consume: (!payload.multi_use).then_some(id_hash),
                })
            }
        }
    }

    /// RFC 7591 §3: registers a client under the Admin API's rules and answers the client
    /// information response (metadata, `client_id_issued_at`, `registration_access_token`,
    /// `registration_client_uri`). The server chooses `client_id`; one sent is ignored.
    pub async fn dcr_register(
        &self,
        permit: RegistrationPermit,
        request: ClientRegistrationRequest,
    ) -> Result<Value> {
        let RegistrationPermit { org, peer, consume } = permit;
        let org_id = &org.id;
        let metadata = self.insert_client(org_id, None, &request.metadata).await?;
        // The single-use token goes only with a successful registration; of two registrations racing
        // on one token, the one that loses the atomic consumption is undone.
        if let Some(id_hash) = consume {
            let consumed = self
                .store
                .consume_artifact(ArtifactKind::InitialAccessToken, &id_hash, self.now())
                .await;
            if !matches!(consumed, Ok(Consumed::Fresh(_))) {
                self.remove_client(org_id, &metadata.client_id).await?;
                return Err(match consumed? {
                    Consumed::Expired(_) => invalid_token("the initial access token has expired"),
                    Consumed::Missing => invalid_token("the initial access token is not valid"),
                    Consumed::Fresh(_) | Consumed::AlreadyUsed(_) => {
                        invalid_token("the initial access token has already been used")
                    }
                });
            }
        }
        let token = format!("clx_rat_{}", clavex_jose::random_token(32));
        if let Err(err) = self
            .store_registration_token(org_id, &metadata, &token)
            .await
        {
            self.remove_client(org_id, &metadata.client_id).await?;
            return Err(err);
        }
        events::emit(&DomainEvent::DynamicRegistration {
            org_id: org_id.as_str(),
            client_id: metadata.client_id.as_str(),
            action: "register",
            peer,
        });
        client_information(&org, &metadata, &token)
    }

    async fn store_registration_token(
        &self,
        org_id: &OrgId,
        metadata: &ClientMetadata,
        token: &str,
    ) -> Result<()> {
        let payload = RegistrationTokenPayload {
            client_id_issued_at: metadata.client_id_issued_at,
        }
        .encode()?;
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::RegistrationAccessToken,
                id_hash: hash_secret(token),
                org_id: org_id.to_string(),
                client_id: Some(metadata.client_id.to_string()),
                grant_id: None,
                payload_json: payload,
                created_at: self.now(),
                // Valid for as long as the client exists; removed with it (or with the organization).
                expires_at: i64::MAX,
                retain_until: i64::MAX,
                used_at: None,
            })
            .await?;
        Ok(())
    }

    /// RFC 7592 §2: authenticates a request at `registration_client_uri` with the client's
    /// registration access token. Any mismatch is `invalid_token`, never a hint whether the client
    /// exists. A token whose client is gone is deleted (RFC 7592 §2.1).
    ///
    /// `client_id` is the path segment as sent: one that could not be a client id is parsed here,
    /// where it meets the token, so that it is answered like a token of another client (after the
    /// checks of the organization and of the token's presence, as for any other client id).
    pub async fn dcr_authenticate(
        &self,
        org_id: &OrgId,
        client_id: &str,
        bearer: Option<&str>,
        connection: &ConnectionFacts,
    ) -> Result<RegistrationAuth> {
        let org = self.dcr_org(org_id).await?;
        let token = bearer.ok_or_else(|| {
            invalid_token(
                "a registration access token is required: send Authorization: Bearer <registration_access_token>",
            )
        })?;
        let token_hash = hash_secret(token);
        let client_id =
            ClientId::parse(client_id).map_err(|_| invalid_token(REGISTRATION_TOKEN_INVALID))?;
        let record = self
            .store
            .get_artifact(ArtifactKind::RegistrationAccessToken, &token_hash)
            .await?
            .filter(|r| {
                r.org_id == org.record.id && r.client_id.as_deref() == Some(client_id.as_str())
            })
            .ok_or_else(|| invalid_token(REGISTRATION_TOKEN_INVALID))?;
        let payload = RegistrationTokenPayload::of_artifact(&record)?;
        let client = match self
            .store
            .get_client(org_id.as_str(), client_id.as_str())
            .await?
        {
            Some(record) => records::client_metadata(&record)?,
            None => {
                self.forget_registration_token(&token_hash).await;
                return Err(invalid_token(REGISTRATION_TOKEN_INVALID));
            }
        };
        if client.client_id_issued_at != payload.client_id_issued_at {
            self.forget_registration_token(&token_hash).await;
            return Err(invalid_token(REGISTRATION_TOKEN_INVALID));
        }
        Ok(RegistrationAuth {
            org,
            peer: connection.peer,
            client,
            token: token.to_owned(),
        })
    }

    async fn forget_registration_token(&self, token_hash: &[u8]) {
        if let Err(err) = self
            .store
            .delete_artifact(ArtifactKind::RegistrationAccessToken, token_hash)
            .await
        {
            tracing::warn!(error = %err, "could not delete a stale registration access token");
        }
    }

    /// RFC 7592 §2.1: the client's current metadata. The registration access token stays valid (it is
    /// not rotated) and is returned as presented.
    pub fn dcr_read(&self, auth: &RegistrationAuth) -> Result<Value> {
        client_information(&auth.org, &auth.client, &auth.token)
    }

    /// RFC 7592 §2.2: replaces the client's metadata, validated as a fresh registration. The body
    /// must carry the client's `client_id`; server-set members are ignored; `client_secret` is
    /// refused (a FAPI 2.0 client has none). The node's cached client is dropped at once.
    pub async fn dcr_update(
        &self,
        auth: &RegistrationAuth,
        request: ClientRegistrationRequest,
    ) -> Result<Value> {
        if request.client_id.as_deref() != Some(auth.client_id().as_str()) {
            return Err(OAuthError::invalid_client_metadata(
                "client_id must be sent and equal the client's client_id (RFC 7592 §2.2)",
            )
            .into());
        }
        let update = UpdateClient {
            client_id: request.client_id,
            metadata: request.metadata,
        };
        let (_, metadata) = self
            .replace_client_metadata(&auth.org.id, auth.client_id(), &update, false)
            .await?;
        events::emit(&DomainEvent::DynamicRegistration {
            org_id: &auth.org.record.id,
            client_id: metadata.client_id.as_str(),
            action: "update",
            peer: auth.peer,
        });
        client_information(&auth.org, &metadata, &auth.token)
    }

    /// RFC 7592 §2.3: deletes the client and (with it, in `Engine::remove_client`) its
    /// registration access token. The node's cached client is dropped at once, so the client cannot
    /// authenticate any more.
    pub async fn dcr_delete(&self, auth: RegistrationAuth) -> Result<()> {
        self.remove_client(&auth.org.id, auth.client_id()).await?;
        events::emit(&DomainEvent::DynamicRegistration {
            org_id: &auth.org.record.id,
            client_id: auth.client_id().as_str(),
            action: "delete",
            peer: auth.peer,
        });
        Ok(())
    }
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the metadata as stored, plus the management credentials.
fn client_information(org: &OrgContext, metadata: &ClientMetadata, token: &str) -> Result<Value> {
    let mut value =
        serde_json::to_value(metadata).map_err(|e| Error::internal("encoding JSON", e))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| Error::invariant("client metadata is not an object"))?;
    object.insert(
        "registration_access_token".into(),
        Value::String(token.to_owned()),
    );
    object.insert(
        "registration_client_uri".into(),
        Value::String(registration_client_uri(&org.issuer, &metadata.client_id)),
    );
    Ok(value)
}

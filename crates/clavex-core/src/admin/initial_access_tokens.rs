//! Initial access tokens (RFC 7591 §3) for dynamic registration under the `initial_access_token`
//! policy: issued through the Admin API, shown once, stored hashed.

use clavex_store::{ArtifactKind, ArtifactRecord};
use serde::Serialize;
use serde_json::Value;

use crate::actor::AdminActor;
use crate::admin::{AdminRequest, record_change};
use crate::artifacts::{InitialAccessTokenPayload, Payload, hash_secret};
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::AdminChange;
use crate::ids::OrgId;
use crate::policy::lifetimes;

/// An initial access token as issued (shown once).
#[derive(Debug, Serialize)]
pub struct InitialAccessToken {
    pub token: String,
    pub expires_at: i64,
    pub multi_use: bool,
}

/// `POST /api/v1/organizations/{org}/initial-access-tokens`. Members (all optional, `null` as if
/// absent): `expires_in` (seconds, default one day), `multi_use` (default `false`); any other member
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInitialAccessToken {
    pub expires_in: i64,
    pub multi_use: bool,
}

impl Default for CreateInitialAccessToken {
    fn default() -> Self {
        CreateInitialAccessToken {
            expires_in: lifetimes::DEFAULT_INITIAL_ACCESS_TOKEN_LIFETIME_SECS,
            multi_use: false,
        }
    }
}

impl AdminRequest for CreateInitialAccessToken {
    fn from_json(body: &Value) -> Result<CreateInitialAccessToken> {
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut request = CreateInitialAccessToken::default();
        for (key, value) in body {
            match (key.as_str(), value) {
                (_, Value::Null) => {}
                ("expires_in", value) => {
                    request.expires_in = value
                        .as_i64()
                        .filter(|s| lifetimes::initial_access_token_lifetime_allowed(*s))
                        .ok_or_else(|| {
                            Error::BadRequest(format!(
                                "expires_in must be a whole number of seconds from {} to {}",
                                lifetimes::MIN_INITIAL_ACCESS_TOKEN_LIFETIME_SECS,
                                lifetimes::MAX_INITIAL_ACCESS_TOKEN_LIFETIME_SECS
                            ))
                        })?;
                }
                ("multi_use", Value::Bool(b)) => request.multi_use = *b,
                ("multi_use", _) => {
                    return Err(Error::BadRequest("multi_use must be a boolean".into()));
                }
                (other, _) => {
                    return Err(Error::BadRequest(format!(
                        "unknown member {other}; allowed: expires_in, multi_use"
                    )));
                }
            }
        }
        Ok(request)
    }
}

impl Engine {
    /// A new initial access token ([`CreateInitialAccessToken`]), stored hashed.
    pub async fn create_initial_access_token(
        &self,
        org_id: &OrgId,
        request: CreateInitialAccessToken,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<InitialAccessToken> {
        self.org(org_id).await?;
        let CreateInitialAccessToken {
            expires_in,
            multi_use,
        } = request;
        let token = format!("clx_iat_{}", clavex_jose::random_token(32));
        let now = self.now();
        let expires_at = now.saturating_add(expires_in);
        let payload = InitialAccessTokenPayload { multi_use }.encode()?;
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::InitialAccessToken,
                id_hash: hash_secret(&token),
                org_id: org_id.to_string(),
                client_id: None,
                grant_id: None,
                payload_json: payload,
                created_at: now,
                expires_at,
                retain_until: expires_at,
                used_at: None,
            })
            .await?;
        record_change(
            actor,
            connection,
            AdminChange::InitialAccessTokenCreated {
                org_id: org_id.as_str(),
                expires_at,
                multi_use,
            },
        );
        Ok(InitialAccessToken {
            token,
            expires_at,
            multi_use,
        })
    }
}

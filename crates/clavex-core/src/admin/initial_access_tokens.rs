//! Initial access tokens (RFC 7591 §3) for dynamic registration under the `initial_access_token`
//! policy: issued through the Admin API, shown once, stored hashed.

use clavex_store::{ArtifactKind, ArtifactRecord};
use serde::Serialize;
use serde_json::Value;

use crate::artifacts::{InitialAccessTokenPayload, Payload, hash_secret};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::policy::lifetimes;

/// An initial access token as issued (shown once).
#[derive(Debug, Serialize)]
pub struct InitialAccessToken {
    pub token: String,
    pub expires_at: i64,
    pub multi_use: bool,
}

impl Engine {
    /// `POST /api/v1/organizations/{org}/initial-access-tokens`: a new initial access token, stored
    /// hashed. Body members (all optional): `expires_in` (seconds, default one day), `multi_use`
    /// (default `false`).
    pub async fn create_initial_access_token(
        &self,
        org_id: &OrgId,
        body: &Value,
    ) -> Result<InitialAccessToken> {
        self.org(org_id).await?;
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut expires_in = lifetimes::DEFAULT_INITIAL_ACCESS_TOKEN_LIFETIME_SECS;
        let mut multi_use = false;
        for (key, value) in body {
            match (key.as_str(), value) {
                (_, Value::Null) => {}
                ("expires_in", value) => {
                    expires_in = value
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
                ("multi_use", Value::Bool(b)) => multi_use = *b,
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
        Ok(InitialAccessToken {
            token,
            expires_at,
            multi_use,
        })
    }
}

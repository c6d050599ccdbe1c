//! What the flows store as artifacts and grants, as typed payloads: the pushed request, the grant,
//! the authorization code, the browser session and the refresh token. Each is encoded to and decoded
//! from its record's JSON column here, once, so the flows only ever see typed values; every secret
//! that names an artifact (request_uri, code, session cookie, refresh token) is stored as its hash.

use clavex_store::{ArtifactRecord, GrantRecord};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::policy::dpop::JwkThumbprint;
use crate::policy::pkce::CodeChallenge;
use crate::policy::prompt::Prompt;
use crate::policy::redirect_uri::RedirectUri;
use crate::policy::response::ResponseMode;
use crate::policy::scope::ScopeSet;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The SHA-256 under which a secret (request_uri, code, cookie, token) is stored.
pub(crate) fn hash_secret(value: &str) -> Vec<u8> {
    clavex_jose::sha256(value.as_bytes()).to_vec()
}

/// A typed payload stored in a record's JSON column.
pub(crate) trait Payload: Serialize + DeserializeOwned {
    /// What the payload is, for the internal error when a stored one does not decode.
    const WHAT: &'static str;

    fn encode(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(Self::WHAT, e))
    }

    fn decode(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::internal(Self::WHAT, e))
    }

    fn of_artifact(record: &ArtifactRecord) -> Result<Self> {
        Self::decode(&record.payload_json)
    }
}

/// A validated pushed authorization request, stored under the hash of its `request_uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scope: ScopeSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub code_challenge: CodeChallenge,
    /// The DPoP key the code is bound to (from a proof at PAR and/or `dpop_jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<JwkThumbprint>,
    #[serde(default)]
    pub prompt: Prompt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// The OIDC `claims` request parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// `response_mode=jwt` / `query.jwt` (JARM): the authorization response is one signed JWT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jarm: bool,
    /// RFC 9396 `authorization_details`, checked at PAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
    pub created_at: i64,
}

impl PushedRequest {
    pub fn has_openid(&self) -> bool {
        self.scope.contains("openid")
    }

    pub fn response_mode(&self) -> ResponseMode {
        if self.jarm {
            ResponseMode::Jwt
        } else {
            ResponseMode::Query
        }
    }
}

impl Payload for PushedRequest {
    const WHAT: &'static str = "pushed request";
}

/// What the grant remembers: who authorized what, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantPayload {
    pub user_id: String,
    pub scope: ScopeSet,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// RFC 9396: what the user approved, carried into every access token of the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

impl Payload for GrantPayload {
    const WHAT: &'static str = "grant payload";
}

impl GrantPayload {
    pub(crate) fn of_grant(record: &GrantRecord) -> Result<GrantPayload> {
        Self::decode(&record.payload_json)
    }
}

/// What an authorization code carries to the token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodePayload {
    pub redirect_uri: RedirectUri,
    pub code_challenge: CodeChallenge,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<JwkThumbprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Payload for CodePayload {
    const WHAT: &'static str = "code payload";
}

/// A browser session (stored under the hash of the cookie value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionPayload {
    pub user_id: String,
    pub auth_time: i64,
    /// The pushed request this login was made for: it satisfies that request's `prompt=login` even
    /// when the login happened within the same second as the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_for: Option<String>,
}

impl Payload for SessionPayload {
    const WHAT: &'static str = "session";
}

/// What a refresh token remembers (the grant it belongs to is on the record itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshPayload {
    pub scope: ScopeSet,
}

impl Payload for RefreshPayload {
    const WHAT: &'static str = "refresh token payload";
}

/// RFC 7591 §3 initial access token: whether it may register more than one client.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitialAccessTokenPayload {
    pub multi_use: bool,
}

impl Payload for InitialAccessTokenPayload {
    const WHAT: &'static str = "initial access token payload";
}

/// RFC 7592 registration access token: bound to the `client_id_issued_at` of the client it was
/// issued with, so it never reaches a later client re-created under the same id.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RegistrationTokenPayload {
    pub client_id_issued_at: i64,
}

impl Payload for RegistrationTokenPayload {
    const WHAT: &'static str = "registration access token payload";
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The stored JSON of a pushed request keeps the shape it had before the typed fields, so
    /// requests pushed by an older node still load.
    #[test]
    fn pushed_request_json_shape() {
        let json = r#"{"client_id":"c","redirect_uri":"https://tpp.example/cb","scope":["openid"],"code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","prompt":["login"],"jarm":true,"created_at":5}"#;
        let pushed = PushedRequest::decode(json).unwrap();
        assert_eq!(pushed.redirect_uri.as_str(), "https://tpp.example/cb");
        assert!(pushed.prompt.login());
        assert_eq!(pushed.response_mode(), ResponseMode::Jwt);
        assert_eq!(pushed.encode().unwrap(), json);
        assert!(PushedRequest::decode("{}").is_err());
    }
}

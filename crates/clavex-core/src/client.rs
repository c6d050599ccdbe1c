//! Registered clients: their metadata and the parsed keys used to authenticate them. The registration
//! rules that produce the metadata are in [`crate::policy::registration`].

use std::sync::Arc;

use clavex_jose::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::ClientId;

/// What Clavex stores for a client (RFC 7591 / RFC 9449 / RFC 9126 / JARM names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    pub client_id: ClientId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2 name; `require_dpop` is accepted as an alias and echoed for the setup page's users.
    pub dpop_bound_access_tokens: bool,
    pub require_dpop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// RFC 9101 §10.5: every pushed request of this client must be a signed request object (FAPI 2.0
    /// Message Signing clients).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// RFC 9101 §10.1: the one algorithm this client signs request objects with, if it said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// RFC 9701 §6: the algorithm of this client's signed introspection responses (ES256 default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<String>,
    pub client_id_issued_at: i64,
}

impl ClientMetadata {
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

/// A client ready for authentication: metadata plus its parsed keys (inline `jwks`), kept in a cache so
/// the hot path never parses JSON or keys.
#[derive(Clone)]
pub struct ResolvedClient {
    pub metadata: ClientMetadata,
    pub inline_keys: Option<Arc<JwkSet>>,
}

//! Authorization server metadata (RFC 8414) and its OpenID Connect discovery form. Truthful: only
//! endpoints and features that exist are listed.

use serde_json::{Value, json};

use crate::engine::{Engine, OrgContext};
use crate::error::Result;
use crate::policy;

impl Engine {
    pub async fn discovery(&self, org_id: &str) -> Result<Value> {
        let org = self.org(org_id).await?;
        Ok(metadata(&org))
    }
}

fn metadata(org: &OrgContext) -> Value {
    let mut scopes: Vec<&str> = org.settings.scopes.iter().map(String::as_str).collect();
    scopes.sort_unstable();
    json!({
        "issuer": org.issuer,
        "token_endpoint": org.token_endpoint,
        "jwks_uri": org.jwks_uri,
        "scopes_supported": scopes,
        // No authorization endpoint yet: no response type is served.
        "response_types_supported": [],
        "grant_types_supported": policy::SERVED_GRANT_TYPES,
        "token_endpoint_auth_methods_supported": policy::allowed_auth_methods(org.settings.profile),
        "token_endpoint_auth_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "dpop_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
    })
}

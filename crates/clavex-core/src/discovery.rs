//! Authorization server metadata (RFC 8414) and its OpenID Connect discovery form. Truthful: only
//! endpoints and features that exist are listed.

use serde_json::{Value, json};

use crate::engine::{Engine, OrgContext};
use crate::error::Result;
use crate::ids::OrgId;
use crate::policy;

impl Engine {
    pub async fn discovery(&self, org_id: &OrgId) -> Result<Value> {
        let org = self.org(org_id).await?;
        Ok(metadata(&org))
    }
}

fn metadata(org: &OrgContext) -> Value {
    let mut scopes: Vec<&str> = policy::OIDC_SCOPES.to_vec();
    scopes.push("offline_access");
    scopes.extend(org.settings.scopes.iter().map(String::as_str));
    let mut metadata = json!({
        "issuer": org.issuer,
        "authorization_endpoint": format!("{}/authorize", org.issuer),
        "pushed_authorization_request_endpoint": org.par_endpoint,
        "require_pushed_authorization_requests": true,
        "token_endpoint": org.token_endpoint,
        "userinfo_endpoint": format!("{}/userinfo", org.issuer),
        "jwks_uri": org.jwks_uri,
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "jwt", "query.jwt"],
        "authorization_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "grant_types_supported": policy::SERVED_GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": policy::allowed_auth_methods(org.settings.profile),
        "token_endpoint_auth_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "revocation_endpoint": format!("{}/revoke", org.issuer),
        "revocation_endpoint_auth_methods_supported": policy::allowed_auth_methods(org.settings.profile),
        "revocation_endpoint_auth_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "introspection_endpoint": format!("{}/introspect", org.issuer),
        "introspection_endpoint_auth_methods_supported": policy::allowed_auth_methods(org.settings.profile),
        "introspection_endpoint_auth_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "introspection_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "dpop_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        // JAR at the PAR endpoint (RFC 9101, RFC 9126 §3); the front channel takes only request_uri.
        "request_object_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "id_token_signing_alg_values_supported": policy::ADVERTISED_ALGORITHMS,
        "claims_parameter_supported": true,
        "authorization_details_types_supported": org.settings.authorization_details_types,
        "claims_supported": policy::SUPPORTED_CLAIMS,
    });
    // RFC 8414 §2: listed exactly when dynamic registration (RFC 7591) is enabled.
    if org.settings.dynamic_registration.enabled()
        && let Some(obj) = metadata.as_object_mut()
    {
        obj.insert(
            "registration_endpoint".into(),
            Value::String(crate::flows::registration::registration_endpoint(
                &org.issuer,
            )),
        );
    }
    metadata
}

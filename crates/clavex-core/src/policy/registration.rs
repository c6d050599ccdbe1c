//! Client registration (Admin API and RFC 7591 dynamic registration): the FAPI 2.0 rules a client's
//! metadata must meet under the organization's profile (FAPI 2.0 SP §5.3.2.1, §5.3.2.2, §5.4), and
//! the metadata Clavex stores as a result.

use clavex_jose::JwkSet;
use serde_json::{Map, Value};

use super::grant_types::REGISTRABLE_GRANT_TYPES;
use super::redirect_uri::{MAX_URI_LEN, check_registrable_redirect_uri};
use crate::client::ClientMetadata;
use crate::error::OAuthError;
use crate::ids::ClientId;
use crate::settings::Profile;

/// Token endpoint authentication methods a profile allows at registration.
pub fn allowed_auth_methods(profile: Profile) -> &'static [&'static str] {
    match profile {
        // FAPI 2.0 SP §5.3.2.1-6: private_key_jwt or MTLS; MTLS is not implemented yet.
        Profile::Fapi2 => &["private_key_jwt"],
    }
}

const MAX_CLIENT_NAME_LEN: usize = 200;
const MAX_REDIRECT_URIS: usize = 20;

fn bad(msg: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client_metadata(msg)
}

fn opt_string(body: &Map<String, Value>, name: &str) -> Result<Option<String>, OAuthError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{name} must be a string"))),
    }
}

fn opt_bool(body: &Map<String, Value>, name: &str) -> Result<Option<bool>, OAuthError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("{name} must be a boolean"))),
    }
}

fn opt_string_array(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, OAuthError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(format!("{name} must be an array of strings"))),
    }
}

fn signing_alg_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, OAuthError> {
    match opt_string(body, name)? {
        None => Ok(None),
        Some(alg) => {
            let parsed =
                super::fapi_algorithm(&alg).map_err(|msg| bad(format!("{name}: {msg}")))?;
            Ok(Some(parsed.as_str().to_owned()))
        }
    }
}

/// The error for client metadata that is not a JSON object.
pub fn metadata_not_an_object() -> OAuthError {
    bad("client metadata must be a JSON object")
}

/// Validates the members of a registration (Admin API and RFC 7591 dynamic registration) under the
/// organization's profile and produces the metadata to store. Unknown members are ignored (RFC 7591 §2).
pub fn validate_registration(
    profile: Profile,
    body: &Map<String, Value>,
    client_id: ClientId,
    issued_at: i64,
) -> Result<ClientMetadata, OAuthError> {
    if body.contains_key("client_secret") {
        return Err(bad(
            "client_secret cannot be set: FAPI 2.0 clients authenticate with private_key_jwt",
        ));
    }

    let client_name = opt_string(body, "client_name")?;
    if client_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_CLIENT_NAME_LEN)
    {
        return Err(bad(format!(
            "client_name is longer than {MAX_CLIENT_NAME_LEN} characters"
        )));
    }

    let auth_method = opt_string(body, "token_endpoint_auth_method")?.ok_or_else(|| {
        bad("token_endpoint_auth_method is required; FAPI 2.0 clients use \"private_key_jwt\"")
    })?;
    let allowed_methods = super::allowed_auth_methods(profile);
    if !allowed_methods.contains(&auth_method.as_str()) {
        let msg = match auth_method.as_str() {
            "tls_client_auth" | "self_signed_tls_client_auth" => {
                format!("token_endpoint_auth_method {auth_method} (mTLS) is not yet supported by Clavex; use private_key_jwt")
            }
            "client_secret_basic" | "client_secret_post" | "client_secret_jwt" => {
                format!("token_endpoint_auth_method {auth_method} is not allowed under FAPI 2.0 (shared secrets); use private_key_jwt")
            }
            "none" => "token_endpoint_auth_method none (public client) is not allowed under FAPI 2.0; use private_key_jwt".to_owned(),
            other => format!("unknown token_endpoint_auth_method {other}; use private_key_jwt"),
        };
        return Err(bad(msg));
    }

    let grant_types = opt_string_array(body, "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grant_types.is_empty() {
        return Err(bad("grant_types must not be empty"));
    }
    for grant in &grant_types {
        if !REGISTRABLE_GRANT_TYPES.contains(&grant.as_str()) {
            return Err(bad(format!(
                "grant type {grant} is not allowed; use authorization_code, refresh_token or client_credentials"
            )));
        }
    }
    let mut grant_types_dedup: Vec<String> = Vec::new();
    for g in grant_types {
        if !grant_types_dedup.contains(&g) {
            grant_types_dedup.push(g);
        }
    }
    let grant_types = grant_types_dedup;
    let code_flow = grant_types.iter().any(|g| g == "authorization_code");

    let response_types = opt_string_array(body, "response_types")?.unwrap_or_else(|| {
        if code_flow {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    });
    for rt in &response_types {
        if rt != "code" {
            return Err(bad(format!(
                "response type {rt} is not allowed; FAPI 2.0 allows only \"code\""
            )));
        }
    }
    if !response_types.is_empty() && !code_flow {
        return Err(bad(
            "response_types code requires the authorization_code grant type",
        ));
    }
    if code_flow && response_types.is_empty() {
        return Err(bad(
            "the authorization_code grant type requires response_types [\"code\"]",
        ));
    }

    let redirect_uris = opt_string_array(body, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(bad(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris may be registered"
        )));
    }
    for uri in &redirect_uris {
        check_registrable_redirect_uri(uri)?;
    }
    if code_flow && redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "redirect_uris is required for the authorization_code grant type",
        ));
    }

    let jwks = match body.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    let jwks_uri = opt_string(body, "jwks_uri")?;
    match (&jwks, &jwks_uri) {
        (Some(_), Some(_)) => return Err(bad("send either jwks or jwks_uri, not both")),
        (None, None) => {
            return Err(bad(
                "private_key_jwt needs the client's public keys: send jwks or jwks_uri",
            ));
        }
        (Some(set), None) => {
            let parsed = JwkSet::from_json(set).map_err(|e| bad(format!("jwks: {e}")))?;
            if !parsed
                .keys()
                .iter()
                .any(|k| super::FAPI_ALGORITHMS.iter().any(|a| k.supports(*a)))
            {
                return Err(bad("jwks holds no key usable with PS256, ES256 or EdDSA"));
            }
        }
        (None, Some(uri)) => {
            if uri.len() > MAX_URI_LEN {
                return Err(bad("jwks_uri is too long"));
            }
            let parsed =
                url::Url::parse(uri).map_err(|_| bad("jwks_uri must be an absolute URL"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(bad("jwks_uri must be an https URL"));
            }
            if parsed.fragment().is_some() {
                return Err(bad("jwks_uri must not contain a fragment"));
            }
        }
    }

    let scope = opt_string(body, "scope")?;
    if let Some(scope) = &scope
        && scope
            .split(' ')
            .any(|t| !t.is_empty() && !super::valid_scope_token(t))
    {
        return Err(bad("scope contains characters outside RFC 6749 §3.3"));
    }

    let require_par = opt_bool(body, "require_pushed_authorization_requests")?;
    if require_par == Some(false) {
        return Err(bad(
            "require_pushed_authorization_requests cannot be false: FAPI 2.0 requires PAR",
        ));
    }
    let require_dpop = opt_bool(body, "require_dpop")?;
    let dpop_bound = opt_bool(body, "dpop_bound_access_tokens")?;
    if require_dpop == Some(false) || dpop_bound == Some(false) {
        return Err(bad(
            "DPoP binding cannot be switched off: FAPI 2.0 requires sender-constrained access tokens (mTLS binding is not yet supported)",
        ));
    }

    Ok(ClientMetadata {
        client_id,
        client_name,
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: auth_method,
        token_endpoint_auth_signing_alg: signing_alg_field(
            body,
            "token_endpoint_auth_signing_alg",
        )?,
        jwks,
        jwks_uri,
        scope,
        require_pushed_authorization_requests: true,
        dpop_bound_access_tokens: true,
        require_dpop: true,
        authorization_signed_response_alg: signing_alg_field(
            body,
            "authorization_signed_response_alg",
        )?,
        id_token_signed_response_alg: signing_alg_field(body, "id_token_signed_response_alg")?,
        require_signed_request_object: opt_bool(body, "require_signed_request_object")?
            .unwrap_or(false),
        request_object_signing_alg: signing_alg_field(body, "request_object_signing_alg")?,
        introspection_signed_response_alg: signing_alg_field(
            body,
            "introspection_signed_response_alg",
        )?,
        client_id_issued_at: issued_at,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::policy::redirect_uri::check_registrable_redirect_uri as check_redirect_uri;
    use serde_json::json;

    /// A real P-256 public key (without alg), so that a refusal is about the rule under test.
    fn ec_jwk() -> Value {
        let key =
            clavex_jose::SigningKey::generate(clavex_jose::Algorithm::Es256, "k1".into()).unwrap();
        let jwk = key.public_jwk();
        json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "kid": "k1"})
    }

    fn setup_page_body() -> Value {
        json!({"client_name": "PSD2 TPP Client", "redirect_uris": ["https://tpp.example.com/callback"],
          "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
          "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt",
          "jwks_uri": "https://tpp.example.com/.well-known/jwks.json",
          "require_pushed_authorization_requests": true, "require_dpop": true,
          "authorization_signed_response_alg": "ES256"})
    }

    fn check(body: Value) -> Result<ClientMetadata, OAuthError> {
        let body = body.as_object().ok_or_else(metadata_not_an_object)?;
        validate_registration(Profile::Fapi2, body, ClientId::parse("c1").unwrap(), 0)
    }

    fn refused(mut patch: Value) -> String {
        let mut body = setup_page_body();
        let obj = body.as_object_mut().unwrap();
        for (k, v) in patch.as_object_mut().unwrap().iter() {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
        let err = check(body).unwrap_err();
        assert!(matches!(
            err.code.as_str(),
            "invalid_client_metadata" | "invalid_redirect_uri"
        ));
        err.description
    }

    #[test]
    fn setup_page_body_is_accepted() {
        let md = check(setup_page_body()).unwrap();
        assert!(md.dpop_bound_access_tokens && md.require_pushed_authorization_requests);
        assert_eq!(
            md.authorization_signed_response_alg.as_deref(),
            Some("ES256")
        );
    }

    #[test]
    fn registration_refusals() {
        assert!(
            refused(json!({"token_endpoint_auth_method": "tls_client_auth"}))
                .contains("not yet supported")
        );
        assert!(
            refused(json!({"token_endpoint_auth_method": "client_secret_basic"}))
                .contains("not allowed")
        );
        assert!(refused(json!({"token_endpoint_auth_method": null})).contains("required"));
        assert!(refused(json!({"redirect_uris": ["http://tpp.example.com/cb"]})).contains("https"));
        assert!(
            refused(json!({"redirect_uris": ["https://tpp.example.com/cb#frag"]}))
                .contains("fragment")
        );
        assert!(refused(json!({"jwks": {"keys": [ec_jwk()]}})).contains("not both"));
        assert!(refused(json!({"jwks_uri": null})).contains("jwks"));
        assert!(refused(json!({"authorization_signed_response_alg": "RS256"})).contains("RS256"));
        assert!(refused(json!({"authorization_signed_response_alg": "none"})).contains("none"));
        assert!(refused(json!({"grant_types": ["implicit"]})).contains("implicit"));
        assert!(refused(json!({"response_types": ["code id_token"]})).contains("code"));
        assert!(refused(json!({"require_dpop": false})).contains("DPoP"));
        assert!(refused(json!({"client_secret": "s3cret"})).contains("client_secret"));
        let mut private = ec_jwk();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(
            refused(json!({"jwks_uri": null, "jwks": {"keys": [private]}})).contains("private")
        );
        let mut mismatched = ec_jwk();
        mismatched["alg"] = json!("PS256");
        assert!(
            refused(json!({"jwks_uri": null, "jwks": {"keys": [mismatched]}})).contains("PS256")
        );
        // Control: the same key without the mismatching alg is accepted.
        let mut ok = setup_page_body();
        ok.as_object_mut().unwrap().remove("jwks_uri");
        ok["jwks"] = json!({"keys": [ec_jwk()]});
        assert!(check(ok).is_ok());
    }

    #[test]
    fn loopback_http_redirect_is_allowed() {
        assert!(check_redirect_uri("http://127.0.0.1:8000/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_err());
    }
}

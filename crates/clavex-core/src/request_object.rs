//! Signed request objects at the pushed authorization request endpoint (JAR, RFC 9101; FAPI 2.0
//! Message Signing §5.3.1).
//!
//! A client may push its authorization parameters as one JWS in the `request` form parameter; a
//! client registered with `require_signed_request_object` must. The object is signed with one of
//! the client's registered keys (the keys of its client assertions) under a FAPI algorithm; its
//! claims, and nothing from the outer form but client authentication, become the authorization
//! request. Its time and audience rules live in `policy::check_request_object_claims`.

use clavex_jose::{Jws, JwsLimits};
use serde_json::Value;

use crate::client::ResolvedClient;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::policy;

fn invalid_request_object(description: impl Into<String>) -> Error {
    OAuthError::new(ErrorCode::InvalidRequestObject, description).into()
}

/// A request object larger than this is refused before parsing (its parameters fit easily; RAR
/// details and `claims` included).
const MAX_REQUEST_OBJECT_LEN: usize = 32 * 1024;

impl Engine {
    /// Verifies `request` as a request object of `client` and returns its claims as the
    /// authorization parameters.
    pub(crate) async fn verify_request_object(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        request: &str,
    ) -> Result<Params> {
        let jws = Jws::parse(
            request,
            &JwsLimits {
                max_total_len: MAX_REQUEST_OBJECT_LEN,
            },
        )
        .map_err(|e| invalid_request_object(format!("request is not a valid signed JWT: {e}")))?;
        // Explicit typing (RFC 9101 §4) is optional; many client libraries still write `JWT`. Any
        // other declared type (a DPoP proof, an access token, ...) is not a request object.
        if jws.typ().is_some()
            && !clavex_jose::typ_matches(jws.typ(), policy::REQUEST_OBJECT_TYP)
            && !clavex_jose::typ_matches(jws.typ(), "JWT")
        {
            return Err(invalid_request_object(format!(
                "the request object's typ must be {} (or JWT) when present",
                policy::REQUEST_OBJECT_TYP
            )));
        }
        let alg = policy::fapi_algorithm(jws.alg_name())
            .map_err(|m| invalid_request_object(format!("request object: {m}")))?;
        if let Some(registered) = &client.metadata.request_object_signing_alg
            && registered != alg.as_str()
            && !(registered == "EdDSA" && alg.as_str() == "Ed25519")
        {
            return Err(invalid_request_object(format!(
                "this client registered request_object_signing_alg {registered}"
            )));
        }
        let verified = self
            .verify_with_client_key(&org.id, client, &jws, alg)
            .await
            .map_err(|e| match e {
                Error::OAuth(err) => {
                    invalid_request_object(format!("request object key: {}", err.description))
                }
                other => other,
            })?;
        if !verified {
            return Err(invalid_request_object(
                "the request object's signature does not verify with the client's keys",
            ));
        }
        let claims = jws.claims();
        policy::check_request_object_claims(claims, &org.issuer, self.now())
            .map_err(invalid_request_object)?;
        let client_id = client.metadata.client_id.as_str();
        if claims.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(invalid_request_object(
                "the request object's client_id must be the authenticated client's",
            ));
        }
        if let Some(iss) = claims.get("iss")
            && iss.as_str() != Some(client_id)
        {
            return Err(invalid_request_object(
                "the request object's iss must be the client_id",
            ));
        }
        for nested in ["request", "request_uri"] {
            if claims.contains_key(nested) {
                return Err(invalid_request_object(format!(
                    "a request object must not contain {nested}"
                )));
            }
        }
        let mut pairs = Vec::with_capacity(claims.len());
        for (name, value) in claims {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                // `claims` and `authorization_details` travel as JSON, like in a form.
                Value::Object(_) | Value::Array(_) => value.to_string(),
                Value::Null => continue,
            };
            if text.contains('\0') {
                return Err(invalid_request_object(
                    "request object values must not contain NUL characters",
                ));
            }
            pairs.push((name.clone(), text));
        }
        Ok(Params::from_pairs(pairs))
    }
}

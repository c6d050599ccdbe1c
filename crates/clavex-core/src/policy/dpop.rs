//! DPoP (RFC 9449) rules the engine applies beyond the proof itself: the proof's time windows are
//! `clavex-resource`'s (re-exported here, shared with every resource server), plus the `dpop_jkt`
//! authorization-request parameter (§10) and its agreement with a proof at PAR.

use std::fmt;

use clavex_resource::dpop::VerifiedProof;
use serde::{Deserialize, Serialize};

use crate::error::OAuthError;

pub use clavex_resource::policy::{
    DPOP_MAX_AGE_SECS, MAX_FUTURE_SKEW_SECS, MAX_JTI_LEN, MAX_JWT_LEN,
};

use super::pkce::is_b64url;

/// Is `iat`/`nbf` acceptable with respect to `now`? (Not too far in the future.)
pub fn not_in_future(value: i64, now: i64) -> bool {
    value <= now + MAX_FUTURE_SKEW_SECS
}

/// The RFC 7638 JWK thumbprint of a DPoP key: base64url SHA-256, 43 characters. What `dpop_jkt`
/// names (RFC 9449 §10), what a code, grant or refresh payload is bound to, and the `cnf.jkt` of an
/// access token (§6.1). Stored payloads hold it as a plain JSON string, checked again on decoding.
///
/// Thumbprints are public (a proof's header carries the key), so they are compared plainly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JwkThumbprint(String);

impl JwkThumbprint {
    /// RFC 9449 §10: `dpop_jkt` is a base64url SHA-256 JWK thumbprint (RFC 7638), 43 characters.
    pub fn parse(value: &str) -> Result<JwkThumbprint, OAuthError> {
        if value.len() != 43 || !is_b64url(value) {
            return Err(OAuthError::invalid_request(
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
            ));
        }
        Ok(JwkThumbprint(value.to_owned()))
    }

    /// The thumbprint of a verified proof's key, computed by `clavex-jose` (RFC 7638, SHA-256).
    pub fn of_proof(proof: &VerifiedProof) -> JwkThumbprint {
        JwkThumbprint(proof.jkt.clone())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JwkThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for JwkThumbprint {
    type Error = OAuthError;

    fn try_from(value: String) -> Result<JwkThumbprint, OAuthError> {
        JwkThumbprint::parse(&value)
    }
}

impl From<JwkThumbprint> for String {
    fn from(thumbprint: JwkThumbprint) -> String {
        thumbprint.0
    }
}

/// RFC 9449 §10: a proof at PAR binds the code to its key; with `dpop_jkt` too, both must agree.
pub fn check_par_binding(
    dpop_jkt: Option<&JwkThumbprint>,
    proof_jkt: &JwkThumbprint,
) -> Result<(), OAuthError> {
    if dpop_jkt.is_some_and(|jkt| jkt != proof_jkt) {
        return Err(OAuthError::invalid_dpop_proof(
            "dpop_jkt does not match the key of the DPoP proof",
        ));
    }
    Ok(())
}

/// The DPoP key presented at the token endpoint must be the one the code is bound to.
pub fn check_code_binding(
    bound: Option<&JwkThumbprint>,
    proof_jkt: &JwkThumbprint,
) -> Result<(), OAuthError> {
    if bound.is_some_and(|bound| bound != proof_jkt) {
        return Err(OAuthError::invalid_dpop_proof(
            "the DPoP key is not the one the authorization code is bound to",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ErrorCode;

    const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    const OTHER: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn jkt(value: &str) -> JwkThumbprint {
        JwkThumbprint::parse(value).unwrap()
    }

    #[test]
    fn skew_window() {
        assert!(not_in_future(100 + MAX_FUTURE_SKEW_SECS, 100));
        assert!(!not_in_future(101 + MAX_FUTURE_SKEW_SECS, 100));
        assert!(not_in_future(0, 100));
    }

    #[test]
    fn dpop_jkt_syntax() {
        assert_eq!(jkt(JKT).as_str(), JKT);
        assert!(JwkThumbprint::parse("short").is_err());
        assert!(JwkThumbprint::parse(&format!("{}=", &JKT[..42])).is_err());
        assert_eq!(
            JwkThumbprint::parse("short").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    /// Stored payloads keep their JSON: a thumbprint is a plain string, checked on decoding.
    #[test]
    fn thumbprint_json() {
        let json = format!("\"{JKT}\"");
        let decoded: JwkThumbprint = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&decoded).unwrap(), json);
        assert!(serde_json::from_str::<JwkThumbprint>("\"short\"").is_err());
    }

    #[test]
    fn bindings() {
        let (key, other) = (jkt(JKT), jkt(OTHER));
        check_par_binding(None, &key).unwrap();
        check_par_binding(Some(&key), &key).unwrap();
        assert_eq!(
            check_par_binding(Some(&other), &key).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
        check_code_binding(None, &key).unwrap();
        check_code_binding(Some(&key), &key).unwrap();
        assert_eq!(
            check_code_binding(Some(&other), &key).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
    }
}

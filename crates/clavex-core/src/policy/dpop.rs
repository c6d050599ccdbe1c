//! DPoP (RFC 9449) rules the engine applies beyond the proof itself: the proof's time windows are
//! `clavex-resource`'s (re-exported here, shared with every resource server), plus the `dpop_jkt`
//! authorization-request parameter (§10) and its agreement with a proof at PAR.

use crate::error::OAuthError;

pub use clavex_resource::policy::{
    DPOP_MAX_AGE_SECS, MAX_FUTURE_SKEW_SECS, MAX_JTI_LEN, MAX_JWT_LEN,
};

use super::pkce::is_b64url;

/// Is `iat`/`nbf` acceptable with respect to `now`? (Not too far in the future.)
pub fn not_in_future(value: i64, now: i64) -> bool {
    value <= now + MAX_FUTURE_SKEW_SECS
}

/// RFC 9449 §10: `dpop_jkt` is a base64url SHA-256 JWK thumbprint (RFC 7638), 43 characters.
pub fn check_dpop_jkt(value: &str) -> Result<(), OAuthError> {
    if value.len() != 43 || !is_b64url(value) {
        return Err(OAuthError::invalid_request(
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
    Ok(())
}

/// RFC 9449 §10: a proof at PAR binds the code to its key; with `dpop_jkt` too, both must agree.
pub fn check_par_binding(dpop_jkt: Option<&str>, proof_jkt: &str) -> Result<(), OAuthError> {
    if dpop_jkt.is_some_and(|jkt| jkt != proof_jkt) {
        return Err(OAuthError::invalid_dpop_proof(
            "dpop_jkt does not match the key of the DPoP proof",
        ));
    }
    Ok(())
}

/// The DPoP key presented at the token endpoint must be the one the code is bound to.
pub fn check_code_binding(bound: Option<&str>, proof_jkt: &str) -> Result<(), OAuthError> {
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

    #[test]
    fn skew_window() {
        assert!(not_in_future(100 + MAX_FUTURE_SKEW_SECS, 100));
        assert!(!not_in_future(101 + MAX_FUTURE_SKEW_SECS, 100));
        assert!(not_in_future(0, 100));
    }

    #[test]
    fn dpop_jkt_syntax() {
        check_dpop_jkt(JKT).unwrap();
        assert!(check_dpop_jkt("short").is_err());
        assert!(check_dpop_jkt(&format!("{}=", &JKT[..42])).is_err());
    }

    #[test]
    fn bindings() {
        check_par_binding(None, JKT).unwrap();
        check_par_binding(Some(JKT), JKT).unwrap();
        assert_eq!(
            check_par_binding(Some("other"), JKT).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
        check_code_binding(None, JKT).unwrap();
        check_code_binding(Some(JKT), JKT).unwrap();
        assert_eq!(
            check_code_binding(Some("other"), JKT).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
    }
}

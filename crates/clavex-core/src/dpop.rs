//! DPoP proof verification (RFC 9449 §4.3) for the token and PAR endpoints. The checks live in
//! `clavex-resource` (shared with resource servers, which add `ath`); this module maps its errors to
//! `invalid_dpop_proof`.

pub use clavex_resource::dpop::{DpopContext, VerifiedProof};

use crate::error::OAuthError;

/// Verifies the `DPoP` header values of one request. Exactly one value is allowed.
pub fn verify_proof(
    header_values: &[&str],
    ctx: &DpopContext<'_>,
    now: i64,
) -> Result<VerifiedProof, OAuthError> {
    clavex_resource::dpop::verify_proof(header_values, ctx, now)
        .map_err(|e| OAuthError::invalid_dpop_proof(e.0))
}

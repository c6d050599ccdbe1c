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

use crate::engine::{Engine, OrgContext};
use crate::error::{Error, Result};

impl Engine {
    /// The nonce to send in `DPoP-Nonce` when the organization requires nonces.
    pub fn dpop_nonce(&self, org: &OrgContext) -> Option<String> {
        org.settings
            .dpop_nonce_required
            .then(|| self.nonces.issue(&org.id, self.now()))
    }

    /// RFC 9449 §8: when the organization requires nonces, a proof must carry a current one. Only
    /// called on a proof that is otherwise valid, so a request without any proof still gets
    /// `invalid_dpop_proof`, never `use_dpop_nonce`.
    pub(crate) fn check_dpop_nonce(&self, org: &OrgContext, proof: &VerifiedProof) -> Result<()> {
        if !org.settings.dpop_nonce_required {
            return Ok(());
        }
        let now = self.now();
        let description = match proof.nonce.as_deref() {
            None => {
                "this server requires a DPoP nonce: retry with the nonce in the DPoP-Nonce header"
            }
            Some(nonce) if self.nonces.accepts(&org.id, nonce, now) => return Ok(()),
            Some(_) => {
                "the DPoP nonce is stale or unknown: retry with the nonce in the DPoP-Nonce header"
            }
        };
        Err(Error::UseDpopNonce {
            description: description.to_owned(),
            nonce: self.nonces.issue(&org.id, now),
        })
    }
}

//! Single-use records of client assertions and DPoP proofs, shared by every endpoint that accepts them.

use crate::client_auth::AuthenticatedClient;
use crate::dpop::VerifiedProof;
use crate::engine::{Engine, OrgContext};
use crate::error::{OAuthError, Result};

pub const NS_ASSERTION: &str = "client_assertion";
pub const NS_DPOP: &str = "dpop";

impl Engine {
    /// Records the assertion's `jti`; a second use (on any node, before the assertion expires) fails.
    pub(crate) async fn record_assertion_use(
        &self,
        org: &OrgContext,
        client: &AuthenticatedClient,
    ) -> Result<()> {
        let namespace = format!("{NS_ASSERTION}:{}", org.record.id);
        if self
            .store
            .record_once(
                &namespace,
                &client.replay_id,
                client.replay_expires_at,
                self.now(),
            )
            .await?
        {
            Ok(())
        } else {
            Err(OAuthError::invalid_client("client_assertion jti has already been used").into())
        }
    }

    /// Records the proof's `jti` under its key; a second use fails with `invalid_dpop_proof`.
    pub(crate) async fn record_proof_use(
        &self,
        org: &OrgContext,
        proof: &VerifiedProof,
    ) -> Result<()> {
        let namespace = format!("{NS_DPOP}:{}", org.record.id);
        if self
            .store
            .record_once(
                &namespace,
                &proof.replay_id,
                proof.replay_expires_at,
                self.now(),
            )
            .await?
        {
            Ok(())
        } else {
            Err(OAuthError::invalid_dpop_proof("DPoP proof jti has already been used").into())
        }
    }
}

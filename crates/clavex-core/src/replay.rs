//! Single-use records of client assertions and DPoP proofs, shared by every endpoint that accepts them.

use crate::client_auth::AuthenticatedClient;
use crate::dpop::VerifiedProof;
use crate::engine::{Engine, OrgContext};
use crate::error::{OAuthError, Result};
use clavex_store::ReplayEntry;

pub const NS_ASSERTION: &str = "client_assertion";
pub const NS_DPOP: &str = "dpop";

impl Engine {
    /// Records the `jti`s of the request's DPoP proof (if any) and client assertion in one store
    /// call (one commit); a second use of either, on any node and before it expires, fails. Both
    /// are recorded even when one of them is a replay, so the assertion of a request refused for a
    /// replayed proof is spent too: a client signs a fresh assertion for every request anyway.
    pub(crate) async fn record_request_uses(
        &self,
        org: &OrgContext,
        proof: Option<&VerifiedProof>,
        client: &AuthenticatedClient,
    ) -> Result<()> {
        let proof_namespace = format!("{NS_DPOP}:{}", org.record.id);
        let assertion_namespace = format!("{NS_ASSERTION}:{}", org.record.id);
        let mut records = Vec::with_capacity(2);
        if let Some(proof) = proof {
            records.push(ReplayEntry {
                namespace: &proof_namespace,
                id: &proof.replay_id,
                expires_at: proof.replay_expires_at,
            });
        }
        records.push(ReplayEntry {
            namespace: &assertion_namespace,
            id: &client.replay_id,
            expires_at: client.replay_expires_at,
        });
        let fresh = self.store.record_once_many(&records, self.now()).await?;
        let mut answers = fresh.iter();
        if proof.is_some() && answers.next() != Some(&true) {
            return Err(
                OAuthError::invalid_dpop_proof("DPoP proof jti has already been used").into(),
            );
        }
        if answers.next() != Some(&true) {
            return Err(
                OAuthError::invalid_client("client_assertion jti has already been used").into(),
            );
        }
        Ok(())
    }
}

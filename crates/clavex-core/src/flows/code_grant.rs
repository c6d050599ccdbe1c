//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, FAPI 2.0 SP §5.3.2.1): read
//! the code first, check everything, consume it last; a replayed code revokes its grant.

use clavex_store::{ArtifactKind, ArtifactRecord, Consumed};

use crate::artifacts::{CodePayload, Payload, hash_secret};
use crate::engine::{Engine, OrgContext};
use crate::error::{OAuthError, Result};
use crate::events::{DomainEvent, emit};
use crate::flows::token::{TokenRequest, TokenResponse};
use crate::flows::user_tokens::{UserTokens, invalid_grant};
use crate::policy::dpop::JwkThumbprint;
use crate::policy::{self, pkce, redirect_uri};

impl Engine {
    pub(crate) async fn authorization_code_grant(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse> {
        let params = &request.params;
        let authenticated = self
            .authenticate_for_grant(org, request, "authorization_code")
            .await?;
        let metadata = &authenticated.client.metadata;
        let code = params
            .single("code")?
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let now = self.now();
        // The holder-of-key comes first: a request without a proof is refused before anything else
        // is looked at (conformance suite §7 ordering).
        let proof = self.token_endpoint_proof(org, request, now)?;

        // Read first, check everything, consume last: a request that fails a check does not burn
        // the code of the legitimate client.
        let code_hash = hash_secret(code);
        let record = match self
            .store
            .get_artifact(ArtifactKind::AuthorizationCode, &code_hash)
            .await?
        {
            Some(r) if r.org_id == org.record.id => r,
            _ => return Err(invalid_grant("the authorization code is invalid")),
        };
        if record.used_at.is_some() {
            self.revoke_replayed_code(org, &record).await?;
            return Err(invalid_grant(
                "the authorization code has already been used; the tokens issued with it are revoked",
            ));
        }
        if record.expires_at <= now {
            return Err(invalid_grant("the authorization code has expired"));
        }
        if record.client_id.as_deref() != Some(metadata.client_id.as_str()) {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        let payload = CodePayload::of_artifact(&record)?;
        redirect_uri::check_token_redirect_uri(
            &payload.redirect_uri,
            params.single("redirect_uri")?,
        )?;
        pkce::verify_code_verifier(params.single("code_verifier")?, &payload.code_challenge)?;
        policy::dpop::check_code_binding(
            payload.dpop_jkt.as_ref(),
            &JwkThumbprint::of_proof(&proof),
        )?;
        let (grant_id, grant) = self.grant_of(org, &record, "an authorization code").await?;

        self.record_request_uses(org, Some(&proof), &authenticated)
            .await?;
        match self
            .store
            .consume_artifact(ArtifactKind::AuthorizationCode, &code_hash, now)
            .await?
        {
            Consumed::Fresh(_) => {}
            Consumed::AlreadyUsed(record) => {
                self.revoke_replayed_code(org, &record).await?;
                return Err(invalid_grant(
                    "the authorization code has already been used; the tokens issued with it are revoked",
                ));
            }
            Consumed::Expired(_) | Consumed::Missing => {
                return Err(invalid_grant("the authorization code has expired"));
            }
        }
        self.issue_user_tokens(
            org,
            &authenticated,
            &proof,
            &UserTokens {
                grant_id: &grant_id,
                grant: &grant,
                scope: &grant.scope,
                nonce: payload.nonce.as_deref(),
                new_refresh_token: true,
                grant_type: "authorization_code",
            },
        )
        .await
    }

    /// RFC 6749 §4.1.2: a code used twice revokes the grant (its refresh tokens, and its access
    /// tokens as seen by every check of grant status).
    async fn revoke_replayed_code(&self, org: &OrgContext, record: &ArtifactRecord) -> Result<()> {
        if let Some(grant_id) = &record.grant_id {
            let revoked = self
                .store
                .revoke_grant(&org.record.id, grant_id, self.now())
                .await?;
            if revoked {
                tracing::warn!(org = %org.record.id, grant = %grant_id, "authorization code replayed; grant revoked");
                emit(&DomainEvent::GrantRevoked {
                    org_id: &org.record.id,
                    grant_id,
                    reason: "code_replayed",
                });
            }
        }
        Ok(())
    }
}

//! What the code and refresh grants share: the grant they draw on (alive, its user still there) and
//! the tokens they issue for a user — access token, refresh token, ID token.

use clavex_store::{ArtifactKind, ArtifactRecord, GrantRecord};

use crate::artifacts::{GrantPayload, Payload, RefreshPayload, hash_secret};
use crate::client_auth::AuthenticatedClient;
use crate::dpop::VerifiedProof;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, OAuthError, Result};
use crate::events::{DomainEvent, emit};
use crate::flows::access_token::AccessTokenClaims;
use crate::flows::token::TokenResponse;
use crate::policy::dpop::JwkThumbprint;
use crate::policy::lifetimes;
use crate::policy::scope::ScopeSet;

pub(crate) fn invalid_grant(msg: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::invalid_grant(msg))
}

/// The tokens to issue for a grant.
#[derive(Clone, Copy)]
pub(crate) struct UserTokens<'a> {
    pub grant_id: &'a str,
    pub grant: &'a GrantPayload,
    /// The scope of this access token (the grant's, or narrower on refresh).
    pub scope: &'a ScopeSet,
    /// The `nonce` of the authorization request, for the ID token (code grant only).
    pub nonce: Option<&'a str>,
    /// Issue a refresh token too (code grant, when the client may refresh).
    pub new_refresh_token: bool,
    /// The grant type of the token request, for the `TokenIssued` event.
    pub grant_type: &'static str,
}

impl Engine {
    /// The live grant an artifact (code or refresh token) draws on, with its payload: revoked or
    /// expired grants are `invalid_grant`, and so is a grant whose user was deleted (it is revoked).
    pub(crate) async fn grant_of(
        &self,
        org: &OrgContext,
        record: &ArtifactRecord,
        what: &str,
    ) -> Result<(String, GrantPayload)> {
        let grant_id = record
            .grant_id
            .clone()
            .ok_or_else(|| Error::invariant(format!("{what} without a grant")))?;
        let grant_record = self
            .live_grant(org, &grant_id)
            .await?
            .ok_or_else(|| invalid_grant("the authorization has been revoked"))?;
        let grant = GrantPayload::of_grant(&grant_record)?;
        self.ensure_grant_user_exists(org, &grant_id, &grant)
            .await?;
        Ok((grant_id, grant))
    }

    /// A grant dies with its user: when the user has been deleted, the grant is revoked (its refresh
    /// tokens and codes with it, and its access tokens as seen by every grant-status check) and the
    /// request is `invalid_grant`.
    pub(crate) async fn ensure_grant_user_exists(
        &self,
        org: &OrgContext,
        grant_id: &str,
        grant: &GrantPayload,
    ) -> Result<()> {
        if self
            .store
            .get_user(&org.record.id, &grant.user_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        if self
            .store
            .revoke_grant(&org.record.id, grant_id, self.now())
            .await?
        {
            emit(&DomainEvent::GrantRevoked {
                org_id: &org.record.id,
                grant_id,
                reason: "user_deleted",
            });
        }
        Err(invalid_grant(
            "the user of this authorization no longer exists",
        ))
    }

    /// The grant if it exists and is neither revoked nor expired.
    pub async fn live_grant(
        &self,
        org: &OrgContext,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>> {
        let now = self.now();
        Ok(self
            .store
            .get_grant(&org.record.id, grant_id)
            .await?
            .filter(|g| g.revoked_at.is_none() && g.expires_at > now))
    }

    pub(crate) async fn issue_user_tokens(
        &self,
        org: &OrgContext,
        authenticated: &AuthenticatedClient,
        proof: &VerifiedProof,
        tokens: &UserTokens<'_>,
    ) -> Result<TokenResponse> {
        let UserTokens {
            grant_id,
            grant,
            scope,
            nonce,
            new_refresh_token,
            grant_type,
        } = *tokens;
        let metadata = &authenticated.client.metadata;
        let now = self.now();
        let lifetime = org.settings.access_token_lifetime;
        let scope_text = scope.to_param();
        let access_token = self
            .issue_access_token(
                org,
                &AccessTokenClaims {
                    subject: &grant.user_id,
                    client_id: &metadata.client_id,
                    audience: &org.default_audience,
                    scope: scope_text.as_deref(),
                    jkt: &JwkThumbprint::of_proof(proof),
                    lifetime,
                    grant_id: Some(grant_id),
                    authorization_details: grant.authorization_details.as_ref(),
                },
                now,
            )
            .await?;
        let refresh_token = if new_refresh_token && metadata.allows_grant("refresh_token") {
            let value = clavex_jose::random_token(32);
            let payload = RefreshPayload {
                scope: grant.scope.clone(),
            };
            let grant_expiry = now + lifetimes::GRANT_LIFETIME_SECS;
            self.store
                .insert_artifact(&ArtifactRecord {
                    kind: ArtifactKind::RefreshToken,
                    id_hash: hash_secret(&value),
                    org_id: org.record.id.clone(),
                    client_id: Some(metadata.client_id.to_string()),
                    grant_id: Some(grant_id.to_owned()),
                    payload_json: payload.encode()?,
                    created_at: now,
                    expires_at: grant_expiry,
                    retain_until: grant_expiry,
                    used_at: None,
                })
                .await?;
            Some(value)
        } else {
            None
        };
        let id_token = if scope.contains("openid") {
            Some(
                self.issue_id_token(org, metadata, grant, nonce, &access_token, now)
                    .await?,
            )
        } else {
            None
        };
        emit(&DomainEvent::TokenIssued {
            org_id: &org.record.id,
            client_id: metadata.client_id.as_str(),
            grant_type,
            subject: Some(&grant.user_id),
        });
        Ok(TokenResponse {
            access_token,
            token_type: "DPoP",
            expires_in: lifetime,
            scope: scope_text,
            refresh_token,
            id_token,
            authorization_details: grant.authorization_details.clone(),
        })
    }
}

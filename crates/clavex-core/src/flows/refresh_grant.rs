//! The `refresh_token` grant (RFC 6749 §6, RFC 9449 §5): the refresh token is bound to the client,
//! the new access token to whatever DPoP key proves possession now; the scope may only narrow.

use clavex_store::ArtifactKind;

use crate::artifacts::hash_secret;
use crate::engine::{Engine, OrgContext};
use crate::error::{OAuthError, Result};
use crate::flows::token::{TokenRequest, TokenResponse};
use crate::flows::user_tokens::{UserTokens, invalid_grant};
use crate::policy::scope::{self, ScopeSet};

impl Engine {
    pub(crate) async fn refresh_token_grant(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse> {
        let params = &request.params;
        let authenticated = self
            .authenticate_for_grant(org, request, "refresh_token")
            .await?;
        let metadata = &authenticated.client.metadata;
        let token = params
            .single("refresh_token")?
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let now = self.now();
        // RFC 9449 §5: the refresh token of a confidential client is bound to the client, not to a
        // DPoP key; the new access token is bound to whatever key proves possession now.
        let proof = self.token_endpoint_proof(org, request, now)?;
        let record = match self
            .store
            .get_artifact(ArtifactKind::RefreshToken, &hash_secret(token))
            .await?
        {
            Some(r) if r.org_id == org.record.id && r.expires_at > now => r,
            _ => return Err(invalid_grant("the refresh token is invalid or has expired")),
        };
        if record.client_id.as_deref() != Some(metadata.client_id.as_str()) {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let (grant_id, grant) = self.grant_of(org, &record, "a refresh token").await?;
        let requested = params.single("scope")?.map(ScopeSet::parse);
        let scope = scope::narrow_refresh_scope(requested.as_ref(), &grant.scope)?;
        self.record_request_uses(org, Some(&proof), &authenticated)
            .await?;
        self.issue_user_tokens(
            org,
            &authenticated,
            &proof,
            &UserTokens {
                grant_id: &grant_id,
                grant: &grant,
                scope: &scope,
                nonce: None,
                new_refresh_token: false,
                grant_type: "refresh_token",
            },
        )
        .await
    }
}

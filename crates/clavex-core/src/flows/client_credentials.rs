//! The `client_credentials` grant (RFC 6749 §4.4) with RFC 8707 resource indicators: a DPoP-bound
//! access token for the client itself.

use crate::engine::{Engine, OrgContext};
use crate::error::Result;
use crate::events::{DomainEvent, emit};
use crate::flows::access_token::AccessTokenClaims;
use crate::flows::token::{TokenRequest, TokenResponse};
use crate::policy;
use crate::policy::dpop::JwkThumbprint;
use crate::policy::scope::ScopeSet;

impl Engine {
    pub(crate) async fn client_credentials(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse> {
        let params = &request.params;
        let authenticated = self
            .authenticate_for_grant(org, request, "client_credentials")
            .await?;
        let metadata = &authenticated.client.metadata;
        let now = self.now();
        // FAPI 2.0 SP §5.3.2.1-4: only sender-constrained tokens; every FAPI client is DPoP-bound.
        let proof = self.token_endpoint_proof(org, request, now)?;
        let requested = ScopeSet::parse(params.single("scope")?.unwrap_or(""));
        let scopes = policy::check_client_credentials_scope(
            &requested,
            &org.settings,
            metadata.scope.as_deref(),
        )?;
        let audience = policy::resolve_audience(
            &params.all("resource"),
            &org.default_audience,
            &org.settings,
        )?;

        self.record_request_uses(org, Some(&proof), &authenticated)
            .await?;

        let scope = scopes.to_param();
        let lifetime = org.settings.access_token_lifetime;
        let access_token = self
            .issue_access_token(
                org,
                &AccessTokenClaims {
                    subject: metadata.client_id.as_str(),
                    client_id: &metadata.client_id,
                    audience: &audience,
                    scope: scope.as_deref(),
                    jkt: &JwkThumbprint::of_proof(&proof),
                    lifetime,
                    grant_id: None,
                    authorization_details: None,
                },
                now,
            )
            .await?;
        emit(&DomainEvent::TokenIssued {
            org_id: &org.record.id,
            client_id: metadata.client_id.as_str(),
            grant_type: "client_credentials",
            subject: None,
        });
        Ok(TokenResponse {
            access_token,
            token_type: "DPoP",
            expires_in: lifetime,
            scope,
            refresh_token: None,
            id_token: None,
            authorization_details: None,
        })
    }
}

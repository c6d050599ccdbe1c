//! The token endpoint (RFC 6749 §3.2; RFC 9449 §5): the request, the grant dispatch, and what every
//! grant shares — client authentication for the grant and the DPoP proof.

use serde::Serialize;
use serde_json::Value;

use crate::client_auth::AuthenticatedClient;
use crate::connection::ConnectionFacts;
use crate::dpop::{self, DpopContext, VerifiedProof};
use crate::engine::{Engine, OrgContext};
use crate::error::{ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::ids::OrgId;

/// A token request as the HTTP layer saw it.
pub struct TokenRequest<'a> {
    pub params: Params,
    /// Every `DPoP` header value, in order (more than one is an error).
    pub dpop: Vec<&'a str>,
    pub authorization_header: Option<&'a str>,
    pub connection: &'a ConnectionFacts,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 9396 §7: the granted `authorization_details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

impl Engine {
    /// `POST /{org}/token`.
    pub async fn token(&self, org_id: &OrgId, request: TokenRequest<'_>) -> Result<TokenResponse> {
        let org = self.org(org_id).await?;
        self.token_grant(&org, &request).await.map_err(|err| {
            crate::client_auth::with_client_challenge(err, &org, request.authorization_header)
        })
    }

    async fn token_grant(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse> {
        let params = &request.params;
        let grant_type = params
            .single("grant_type")?
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        // RFC 9396 §6 lets a token request name (or narrow) authorization_details; Clavex takes
        // them only at PAR, where the user approves them, and says so rather than ignore them.
        if params.single("authorization_details")?.is_some() {
            return Err(OAuthError::new(
                ErrorCode::InvalidAuthorizationDetails,
                "authorization_details are accepted only in the pushed authorization request; the access token carries what the user approved there",
            )
            .into());
        }
        match grant_type {
            "client_credentials" => self.client_credentials(org, request).await,
            "authorization_code" => self.authorization_code_grant(org, request).await,
            "refresh_token" => self.refresh_token_grant(org, request).await,
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other} is not supported"),
            )
            .into()),
        }
    }

    /// Client authentication for a grant, and the client must be registered for it.
    pub(crate) async fn authenticate_for_grant(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
        grant_type: &str,
    ) -> Result<AuthenticatedClient> {
        let authenticated = self
            .authenticate_client(org, &request.params, request.authorization_header)
            .await?;
        if !authenticated.client.metadata.allows_grant(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client is not registered for the {grant_type} grant"),
            )
            .into());
        }
        Ok(authenticated)
    }

    /// The DPoP proof of a token request (and its server nonce, when required). FAPI 2.0 SP
    /// §5.3.2.1-4: every token is sender-constrained, so every grant needs one.
    pub(crate) fn token_endpoint_proof(
        &self,
        org: &OrgContext,
        request: &TokenRequest<'_>,
        now: i64,
    ) -> Result<VerifiedProof> {
        // A token request without any proof is malformed rather than carrying a bad proof:
        // `invalid_request` (RFC 9449 §5 names no code for it; the FAPI 2.0 conformance suite's
        // refresh-token and holder-of-key modules accept invalid_request), never use_dpop_nonce.
        if request.dpop.is_empty() {
            return Err(OAuthError::invalid_request(
                "a DPoP proof is required: this client's tokens are DPoP-bound (send a DPoP header)",
            )
            .into());
        }
        let proof = dpop::verify_proof(
            &request.dpop,
            &DpopContext {
                method: "POST",
                url: &org.token_endpoint,
                access_token: None,
            },
            now,
        )?;
        self.check_dpop_nonce(org, &proof)?;
        Ok(proof)
    }
}

//! The authorization request of a pushed request, parsed once into typed values: from the PAR form,
//! or from the claims of a verified request object (JAR). Every rule it applies is a `policy` call;
//! the order of the checks is the order in which errors are reported.

use serde_json::Value;

use crate::client::ResolvedClient;
use crate::engine::OrgContext;
use crate::error::{ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::policy;
use crate::policy::dpop::JwkThumbprint;
use crate::policy::pkce::{self, CodeChallenge};
use crate::policy::prompt::{self, Prompt};
use crate::policy::redirect_uri::{self, RedirectUri};
use crate::policy::request_params::{self, MAX_NONCE_LEN, MAX_STATE_LEN};
use crate::policy::response::{self, ResponseMode};
use crate::policy::scope::{self, ScopeSet};

/// A pushed authorization request that passed every rule of FAPI 2.0 SP §5.3.2.2 that does not need
/// the DPoP proof.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub redirect_uri: RedirectUri,
    pub scope: ScopeSet,
    pub code_challenge: CodeChallenge,
    pub response_mode: ResponseMode,
    pub authorization_details: Option<Value>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub claims: Option<Value>,
    pub acr_values: Option<String>,
    /// RFC 9449 §10 `dpop_jkt`.
    pub dpop_jkt: Option<JwkThumbprint>,
}

impl AuthorizationRequest {
    /// Parses `params` (the PAR form or a request object's claims) for `client` of `org`.
    pub fn parse(
        params: &Params,
        org: &OrgContext,
        client: &ResolvedClient,
    ) -> Result<AuthorizationRequest> {
        let metadata = &client.metadata;
        response::check_response_type(params.single("response_type")?)?;
        if !metadata.allows_grant("authorization_code") {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for the authorization_code grant",
            )
            .into());
        }
        let redirect_uri = redirect_uri::check_pushed_redirect_uri(
            &metadata.redirect_uris,
            params.single("redirect_uri")?,
        )?;
        let scope = scope::check_authorization_scope(
            &ScopeSet::parse(params.single("scope")?.unwrap_or("")),
            &org.settings,
            metadata.scope.as_deref(),
        )?;
        let code_challenge = pkce::check_code_challenge(
            params.single("code_challenge")?,
            params.single("code_challenge_method")?,
        )?;
        let response_mode = response::check_response_mode(params.single("response_mode")?)?;
        let authorization_details = match params.single("authorization_details")? {
            None => None,
            Some(text) => Some(
                policy::check_authorization_details(
                    text,
                    &org.settings.authorization_details_types,
                )
                .map_err(|m| OAuthError::new(ErrorCode::InvalidAuthorizationDetails, m))?,
            ),
        };
        let state = request_params::check_opaque("state", params.single("state")?, MAX_STATE_LEN)?;
        let nonce = request_params::check_opaque("nonce", params.single("nonce")?, MAX_NONCE_LEN)?;
        let prompt = prompt::parse_prompt(params.single("prompt")?)?;
        let max_age = prompt::parse_max_age(params.single("max_age")?)?;
        let claims = request_params::parse_claims_request(params.single("claims")?)?;
        let dpop_jkt = params
            .single("dpop_jkt")?
            .map(JwkThumbprint::parse)
            .transpose()?;
        Ok(AuthorizationRequest {
            redirect_uri,
            scope,
            code_challenge,
            response_mode,
            authorization_details,
            state,
            nonce,
            prompt,
            max_age,
            claims,
            acr_values: params.single("acr_values")?.map(str::to_owned),
            dpop_jkt,
        })
    }
}

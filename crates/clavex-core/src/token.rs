//! The token endpoint (RFC 6749 §3.2, §4.4; RFC 9449 §5; RFC 9068; RFC 8707).

use clavex_jose::Algorithm;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::client_auth::AuthenticatedClient;
use crate::dpop::{self, DpopContext, VerifiedProof};
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::policy;

/// A token request as the HTTP layer saw it.
pub struct TokenRequest<'a> {
    pub params: Params,
    /// Every `DPoP` header value, in order (more than one is an error).
    pub dpop: Vec<&'a str>,
    pub authorization_header: Option<&'a str>,
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
    pub async fn token(&self, org_id: &str, request: TokenRequest<'_>) -> Result<TokenResponse> {
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

    async fn client_credentials(
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
        let scope_param = params.single("scope")?.unwrap_or("");
        let scopes = policy::check_client_credentials_scope(
            scope_param,
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

        let scope = if scopes.is_empty() {
            None
        } else {
            Some(scopes.join(" "))
        };
        let lifetime = org.settings.access_token_lifetime;
        let access_token = self
            .issue_access_token(
                org,
                &metadata.client_id,
                &metadata.client_id,
                &audience,
                scope.as_deref(),
                &proof.jkt,
                now,
                lifetime,
            )
            .await?;
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

    /// RFC 9068 JWT access token, bound to the DPoP key (`cnf.jkt`, RFC 9449 §6.1).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue_access_token(
        &self,
        org: &OrgContext,
        subject: &str,
        client_id: &str,
        audience: &str,
        scope: Option<&str>,
        jkt: &str,
        now: i64,
        lifetime: u64,
    ) -> Result<String> {
        self.issue_access_token_for_grant(
            org, subject, client_id, audience, scope, jkt, now, lifetime, None, None,
        )
        .await
    }

    /// As [`Engine::issue_access_token`], naming the grant (`grant_id`) so that resource checks can
    /// see whether it has been revoked.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue_access_token_for_grant(
        &self,
        org: &OrgContext,
        subject: &str,
        client_id: &str,
        audience: &str,
        scope: Option<&str>,
        jkt: &str,
        now: i64,
        lifetime: u64,
        grant_id: Option<&str>,
        authorization_details: Option<&Value>,
    ) -> Result<String> {
        let keys = self.org_keys(&org.record.id).await?;
        let signer = keys.signer(Algorithm::Es256)?;
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert("sub".into(), Value::String(subject.to_owned()));
        claims.insert("aud".into(), Value::String(audience.to_owned()));
        claims.insert("client_id".into(), Value::String(client_id.to_owned()));
        if let Some(scope) = scope {
            claims.insert("scope".into(), Value::String(scope.to_owned()));
        }
        claims.insert("iat".into(), json!(now));
        claims.insert(
            "exp".into(),
            json!(now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX))),
        );
        claims.insert("jti".into(), Value::String(clavex_jose::random_token(16)));
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
        if let Some(grant_id) = grant_id {
            claims.insert("grant_id".into(), Value::String(grant_id.to_owned()));
        }
        // RFC 9396 §9.1: resource servers read what was approved from the token.
        if let Some(details) = authorization_details {
            claims.insert("authorization_details".into(), details.clone());
        }
        signer
            .sign_jwt(Some("at+jwt"), None, true, &Value::Object(claims))
            .map_err(|e| Error::Internal(format!("signing access token: {e}")))
    }
}

//! Questions about tokens already issued: revocation (RFC 7009, `POST /{org}/revoke`) and
//! introspection (RFC 7662, `POST /{org}/introspect`).
//!
//! Both endpoints authenticate the calling client like the token endpoint does (`private_key_jwt`
//! only, the assertion's `jti` single-use). A token is located by its shape: a JWS is an access
//! token (verified with the organization's keys, like at UserInfo, but without a DPoP proof: the
//! caller is not the token's holder), anything else is looked up as a refresh token.
//!
//! Revoking either kind of token revokes its grant (RFC 7009 §2.1: a refresh token's access tokens
//! SHOULD go with it; access tokens are self-contained JWTs, so the grant is what every check —
//! UserInfo, introspection, `clavex-resource`'s grant status — can see). Access tokens from the
//! `client_credentials` grant have no grant: they are answered `unsupported_token_type` and
//! expire on their own (their lifetime is the organization's `access_token_lifetime`).

use serde_json::{Map, Value, json};

use crate::artifacts::{GrantPayload, Payload, RefreshPayload, hash_secret};
use crate::client_auth::AuthenticatedClient;
use crate::connection::ConnectionFacts;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::events::{DomainEvent, emit};
use crate::form::Params;
use crate::ids::OrgId;
use crate::policy::scope::ScopeSet;
use clavex_store::{ArtifactKind, GrantRecord};

/// The `typ` (and, with `application/`, the media type) of a signed introspection response.
pub const INTROSPECTION_JWT_TYP: &str = "token-introspection+jwt";

/// A revocation or introspection request as the HTTP layer saw it.
pub struct TokenQuery<'a> {
    pub params: Params,
    pub authorization_header: Option<&'a str>,
    pub connection: &'a ConnectionFacts,
}

/// What a presented token turned out to be.
enum Located {
    /// A valid access token of this organization (signature, issuer, expiry checked).
    Access(Map<String, Value>),
    /// A live refresh token and its grant.
    Refresh {
        client_id: Option<String>,
        grant: GrantRecord,
        scope: ScopeSet,
        created_at: i64,
        expires_at: i64,
    },
    /// Unknown, expired, malformed, or its grant is gone.
    Inactive,
}

impl Engine {
    /// `POST /{org}/revoke` (RFC 7009). `Ok(())` is the empty 200 answer, also for a token that is
    /// unknown, expired or already revoked (§2.2).
    pub async fn revoke(&self, org_id: &OrgId, request: TokenQuery<'_>) -> Result<()> {
        let org = self.org(org_id).await?;
        let (client, token) = self.authenticate_token_query(&org, &request).await?;
        match self.locate(&org, token).await? {
            Located::Inactive => Ok(()),
            Located::Refresh {
                client_id, grant, ..
            } => {
                ensure_issued_to(&client, client_id.as_deref())?;
                self.revoke_grant_logged(&org, &grant.grant_id).await
            }
            Located::Access(claims) => {
                ensure_issued_to(&client, claims.get("client_id").and_then(Value::as_str))?;
                match claims.get("grant_id").and_then(Value::as_str) {
                    Some(grant_id) => self.revoke_grant_logged(&org, grant_id).await,
                    None => Err(OAuthError::new(
                        ErrorCode::UnsupportedTokenType,
                        "access tokens of the client_credentials grant cannot be revoked; they expire on their own",
                    )
                    .into()),
                }
            }
        }
    }

    /// `POST /{org}/introspect` (RFC 7662). Any client of the organization may introspect access
    /// tokens (resource servers are registered as clients); a refresh token is active only for the
    /// client it was issued to, since for anyone else it is a secret they should not hold.
    pub async fn introspect(&self, org_id: &OrgId, request: TokenQuery<'_>) -> Result<Value> {
        let org = self.org(org_id).await?;
        let (_, answer) = self.introspection_answer(&org, &request).await?;
        Ok(answer)
    }

    /// `POST /{org}/introspect` with `Accept: application/token-introspection+jwt` (RFC 9701): the
    /// same answer as the `token_introspection` claim of a JWT signed by the organization, with
    /// `iss`, `aud` (the asking client) and `iat`.
    pub async fn introspect_signed(
        &self,
        org_id: &OrgId,
        request: TokenQuery<'_>,
    ) -> Result<String> {
        let org = self.org(org_id).await?;
        let (client, answer) = self.introspection_answer(&org, &request).await?;
        let metadata = &client.client.metadata;
        let alg = match metadata.introspection_signed_response_alg.as_deref() {
            Some(name) => clavex_jose::Algorithm::parse(name)
                .map_err(|e| Error::internal("client introspection alg", e))?,
            None => clavex_jose::Algorithm::Es256,
        };
        let keys = self.org_keys(&org.id).await?;
        let claims = json!({
            "iss": org.issuer,
            "aud": metadata.client_id,
            "iat": self.now(),
            "token_introspection": answer,
        });
        keys.signer(alg)?
            .sign_jwt(Some(INTROSPECTION_JWT_TYP), None, true, &claims)
            .map_err(|e| Error::internal("signing the introspection response", e))
    }

    async fn introspection_answer(
        &self,
        org: &OrgContext,
        request: &TokenQuery<'_>,
    ) -> Result<(AuthenticatedClient, Value)> {
        let (client, token) = self.authenticate_token_query(org, request).await?;
        let answer = self.describe(org, &client, token).await?;
        Ok((client, answer))
    }

    async fn describe(
        &self,
        org: &OrgContext,
        client: &AuthenticatedClient,
        token: &str,
    ) -> Result<Value> {
        Ok(match self.locate(org, token).await? {
            Located::Inactive => inactive(),
            Located::Access(claims) => {
                let mut out = Map::new();
                out.insert("active".into(), Value::Bool(true));
                for name in [
                    "scope",
                    "client_id",
                    "sub",
                    "exp",
                    "iat",
                    "nbf",
                    "aud",
                    "iss",
                    "jti",
                    "cnf",
                    "auth_time",
                    "acr",
                    "authorization_details",
                ] {
                    if let Some(value) = claims.get(name) {
                        out.insert(name.into(), value.clone());
                    }
                }
                // Every access token Clavex issues is DPoP-bound (FAPI 2.0 SP §5.3.2.1-4).
                out.insert("token_type".into(), Value::String("DPoP".into()));
                Value::Object(out)
            }
            Located::Refresh {
                client_id,
                grant,
                scope,
                created_at,
                expires_at,
            } => {
                if client_id.as_deref() != Some(client.client.metadata.client_id.as_str()) {
                    return Ok(inactive());
                }
                let subject = GrantPayload::decode(&grant.payload_json)
                    .ok()
                    .map(|payload| payload.user_id);
                let mut out = json!({
                    "active": true,
                    "client_id": client_id,
                    "scope": scope.to_string(),
                    "iat": created_at,
                    "exp": expires_at,
                    "iss": org.issuer,
                });
                if let (Some(obj), Some(sub)) = (out.as_object_mut(), subject) {
                    obj.insert("sub".into(), Value::String(sub));
                }
                out
            }
        })
    }

    /// Authenticates the caller (recording its assertion) and returns the `token` parameter.
    async fn authenticate_token_query<'r>(
        &self,
        org: &OrgContext,
        request: &'r TokenQuery<'_>,
    ) -> Result<(AuthenticatedClient, &'r str)> {
        // RFC 6749 §5.2: an Authorization-header attempt is answered with a challenge for its scheme.
        let challenge =
            |err| crate::client_auth::with_client_challenge(err, org, request.authorization_header);
        let client = self
            .authenticate_client(org, &request.params, request.authorization_header)
            .await
            .map_err(challenge)?;
        self.record_request_uses(org, None, &client)
            .await
            .map_err(challenge)?;
        let token = request
            .params
            .single("token")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        // token_type_hint is only a hint (RFC 7009 §2.1, RFC 7662 §2.1): every type is searched.
        request.params.single("token_type_hint")?;
        Ok((client, token))
    }

    async fn locate(&self, org: &OrgContext, token: &str) -> Result<Located> {
        let now = self.now();
        if token.contains('.') {
            let Some(claims) = self.verified_access_token_claims(org, token).await? else {
                return Ok(Located::Inactive);
            };
            if let Some(grant_id) = claims.get("grant_id").and_then(Value::as_str)
                && self.live_grant(org, grant_id).await?.is_none()
            {
                return Ok(Located::Inactive);
            }
            return Ok(Located::Access(claims));
        }
        let Some(record) = self
            .store
            .get_artifact(ArtifactKind::RefreshToken, &hash_secret(token))
            .await?
        else {
            return Ok(Located::Inactive);
        };
        if record.org_id != org.record.id || record.expires_at <= now {
            return Ok(Located::Inactive);
        }
        let Some(grant_id) = record.grant_id.as_deref() else {
            return Ok(Located::Inactive);
        };
        let Some(grant) = self.live_grant(org, grant_id).await? else {
            return Ok(Located::Inactive);
        };
        let scope = RefreshPayload::of_artifact(&record)
            .map(|p| p.scope)
            .unwrap_or_default();
        Ok(Located::Refresh {
            client_id: record.client_id,
            grant,
            scope,
            created_at: record.created_at,
            expires_at: record.expires_at,
        })
    }

    async fn revoke_grant_logged(&self, org: &OrgContext, grant_id: &str) -> Result<()> {
        if self
            .store
            .revoke_grant(&org.record.id, grant_id, self.now())
            .await?
        {
            emit(&DomainEvent::GrantRevoked {
                org_id: &org.record.id,
                grant_id,
                reason: "revoked_by_client",
            });
        }
        Ok(())
    }
}

fn inactive() -> Value {
    json!({ "active": false })
}

/// RFC 7009 §2.1: the server verifies that the token was issued to the client making the request,
/// and refuses the request otherwise.
fn ensure_issued_to(client: &AuthenticatedClient, issued_to: Option<&str>) -> Result<()> {
    if issued_to == Some(client.client.metadata.client_id.as_str()) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        )
        .into())
    }
}

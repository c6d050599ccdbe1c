//! Token endpoint grants of the code flow: `authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6,
//! FAPI 2.0 SP §5.3.2.1) and `refresh_token` (RFC 6749 §6, RFC 9449 §5), and the ID token (OIDC Core
//! §2, §3.1.3.6).

use clavex_jose::Algorithm;
use clavex_store::{ArtifactKind, ArtifactRecord, Consumed, GrantRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::authorization::{CodePayload, GrantPayload, hash_secret};
use crate::client_auth::AuthenticatedClient;
use crate::dpop::VerifiedProof;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, OAuthError, Result};
use crate::token::{TokenRequest, TokenResponse};

/// What a refresh token remembers (the grant it belongs to is on the record itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshPayload {
    pub scope: Vec<String>,
}

pub const ID_TOKEN_LIFETIME_SECS: i64 = 300;

/// The base64url left half of the hash of `value` that goes with `alg` (OIDC Core §3.1.3.6).
fn left_half_hash(alg: Algorithm, value: &str) -> String {
    let digest = match alg {
        Algorithm::Es256 | Algorithm::Ps256 => clavex_jose::sha256(value.as_bytes()).to_vec(),
        Algorithm::EdDsa => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, value.as_bytes())
            .as_ref()
            .to_vec(),
    };
    clavex_jose::b64url_encode(digest.get(..digest.len() / 2).unwrap_or(&digest))
}
/// RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn invalid_grant(msg: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::invalid_grant(msg))
}

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
        let payload: CodePayload = serde_json::from_str(&record.payload_json)
            .map_err(|e| Error::Internal(format!("code payload: {e}")))?;
        match params.single("redirect_uri")? {
            Some(uri) if uri == payload.redirect_uri => {}
            Some(_) => {
                return Err(invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
            None => return Err(OAuthError::invalid_request("redirect_uri is required").into()),
        }
        let verifier = params
            .single("code_verifier")?
            .ok_or_else(|| invalid_grant("code_verifier is required (PKCE)"))?;
        if !valid_verifier(verifier) {
            return Err(invalid_grant(
                "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        let computed = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            computed.as_bytes(),
            payload.code_challenge.as_bytes(),
        )) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        if let Some(bound) = &payload.dpop_jkt
            && *bound != proof.jkt
        {
            return Err(OAuthError::invalid_dpop_proof(
                "the DPoP key is not the one the authorization code is bound to",
            )
            .into());
        }
        let grant_id = record
            .grant_id
            .clone()
            .ok_or_else(|| Error::Internal("code without grant".into()))?;
        let grant_record = self
            .live_grant(org, &grant_id)
            .await?
            .ok_or_else(|| invalid_grant("the authorization has been revoked"))?;
        let grant: GrantPayload = serde_json::from_str(&grant_record.payload_json)
            .map_err(|e| Error::Internal(format!("grant payload: {e}")))?;
        self.ensure_grant_user_exists(org, &grant_id, &grant)
            .await?;

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
            &grant_id,
            &grant,
            &grant.scope,
            payload.nonce.as_deref(),
            true,
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
            }
        }
        Ok(())
    }

    /// A grant dies with its user: when the user has been deleted, the grant is revoked (its refresh
    /// tokens and codes with it, and its access tokens as seen by every grant-status check) and the
    /// request is `invalid_grant`.
    async fn ensure_grant_user_exists(
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
        self.store
            .revoke_grant(&org.record.id, grant_id, self.now())
            .await?;
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
        let grant_id = record
            .grant_id
            .clone()
            .ok_or_else(|| Error::Internal("refresh token without grant".into()))?;
        let grant_record = self
            .live_grant(org, &grant_id)
            .await?
            .ok_or_else(|| invalid_grant("the authorization has been revoked"))?;
        let grant: GrantPayload = serde_json::from_str(&grant_record.payload_json)
            .map_err(|e| Error::Internal(format!("grant payload: {e}")))?;
        self.ensure_grant_user_exists(org, &grant_id, &grant)
            .await?;
        let scope = match params.single("scope")? {
            None => grant.scope.clone(),
            Some(requested) => {
                let mut narrowed = Vec::new();
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !grant.scope.iter().any(|g| g == s) {
                        return Err(OAuthError::invalid_scope(format!(
                            "scope {s} was not granted"
                        ))
                        .into());
                    }
                    if !narrowed.iter().any(|n: &String| n == s) {
                        narrowed.push(s.to_owned());
                    }
                }
                narrowed
            }
        };
        self.record_request_uses(org, Some(&proof), &authenticated)
            .await?;
        self.issue_user_tokens(
            org,
            &authenticated,
            &proof,
            &grant_id,
            &grant,
            &scope,
            None,
            false,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_user_tokens(
        &self,
        org: &OrgContext,
        authenticated: &AuthenticatedClient,
        proof: &VerifiedProof,
        grant_id: &str,
        grant: &GrantPayload,
        scope: &[String],
        nonce: Option<&str>,
        new_refresh_token: bool,
    ) -> Result<TokenResponse> {
        let metadata = &authenticated.client.metadata;
        let now = self.now();
        let lifetime = org.settings.access_token_lifetime;
        let api_scopes: Vec<&str> = scope.iter().map(String::as_str).collect();
        let scope_text = if api_scopes.is_empty() {
            None
        } else {
            Some(api_scopes.join(" "))
        };
        let access_token = self
            .issue_access_token_for_grant(
                org,
                &grant.user_id,
                &metadata.client_id,
                &org.default_audience,
                scope_text.as_deref(),
                &proof.jkt,
                now,
                lifetime,
                Some(grant_id),
                grant.authorization_details.as_ref(),
            )
            .await?;
        let refresh_token = if new_refresh_token && metadata.allows_grant("refresh_token") {
            let value = clavex_jose::random_token(32);
            let payload = RefreshPayload {
                scope: grant.scope.clone(),
            };
            let grant_expiry = now + crate::authorization::GRANT_LIFETIME_SECS;
            self.store
                .insert_artifact(&ArtifactRecord {
                    kind: ArtifactKind::RefreshToken,
                    id_hash: hash_secret(&value),
                    org_id: org.record.id.clone(),
                    client_id: Some(metadata.client_id.clone()),
                    grant_id: Some(grant_id.to_owned()),
                    payload_json: serde_json::to_string(&payload)
                        .map_err(|e| Error::Internal(e.to_string()))?,
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
        let id_token = if scope.iter().any(|s| s == "openid") {
            Some(
                self.issue_id_token(
                    org,
                    &metadata.client_id,
                    metadata.id_token_signed_response_alg.as_deref(),
                    grant,
                    nonce,
                    &access_token,
                    now,
                )
                .await?,
            )
        } else {
            None
        };
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

    #[allow(clippy::too_many_arguments)]
    async fn issue_id_token(
        &self,
        org: &OrgContext,
        client_id: &str,
        alg: Option<&str>,
        grant: &GrantPayload,
        nonce: Option<&str>,
        access_token: &str,
        now: i64,
    ) -> Result<String> {
        let alg = match alg {
            Some(name) => Algorithm::parse(name)
                .map_err(|e| Error::Internal(format!("client id_token alg: {e}")))?,
            None => Algorithm::Es256,
        };
        let keys = self.org_keys(&org.record.id).await?;
        let signer = keys.signer(alg)?;
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert("sub".into(), Value::String(grant.user_id.clone()));
        claims.insert("aud".into(), Value::String(client_id.to_owned()));
        claims.insert("azp".into(), Value::String(client_id.to_owned()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME_SECS));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), Value::String(nonce.to_owned()));
        }
        if let Some(acr) = &grant.acr {
            claims.insert("acr".into(), Value::String(acr.clone()));
        }
        // OIDC Core §3.1.3.6: at_hash is the left half of the hash of the access token, with the
        // hash of the ID token's alg: SHA-256 for ES256/PS256, SHA-512 for EdDSA (Ed25519, as the
        // OIDC errata and the conformance suite's ValidateHash have it).
        claims.insert(
            "at_hash".into(),
            Value::String(left_half_hash(alg, access_token)),
        );
        if let Some(requested) = grant
            .claims
            .as_ref()
            .and_then(|c| c.get("id_token"))
            .and_then(Value::as_object)
        {
            let user_claims = self.user_claims(&org.record.id, &grant.user_id).await?;
            for name in requested.keys() {
                if let Some(value) = user_claims.get(name)
                    && !claims.contains_key(name)
                {
                    claims.insert(name.clone(), value.clone());
                }
            }
        }
        signer
            .sign_jwt(None, None, true, &Value::Object(claims))
            .map_err(|e| Error::Internal(format!("signing id token: {e}")))
    }

    /// Every claim Clavex knows about a user (standard OIDC names).
    pub async fn user_claims(&self, org_id: &str, user_id: &str) -> Result<Map<String, Value>> {
        let Some(user) = self.store.get_user(org_id, user_id).await? else {
            return Ok(Map::new());
        };
        let mut claims: Map<String, Value> =
            serde_json::from_str(&user.claims_json).unwrap_or_default();
        claims.insert("sub".into(), Value::String(user.user_id.clone()));
        claims
            .entry("preferred_username")
            .or_insert_with(|| Value::String(user.username.clone()));
        if let Some(email) = &user.email {
            claims.insert("email".into(), Value::String(email.clone()));
            claims.entry("email_verified").or_insert(Value::Bool(false));
        }
        if !claims.contains_key("name") {
            let given = claims
                .get("given_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let family = claims
                .get("family_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let full = format!("{given} {family}").trim().to_owned();
            if !full.is_empty() {
                claims.insert("name".into(), Value::String(full));
            }
        }
        claims.insert("updated_at".into(), json!(user.updated_at));
        Ok(claims)
    }
}

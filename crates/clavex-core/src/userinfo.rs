//! Protected-resource checks for Clavex's own resource, the UserInfo endpoint (OIDC Core §5.3):
//! a DPoP-bound JWT access token (RFC 9068, RFC 9449 §7) whose grant is still live.

use clavex_jose::{Jws, JwsLimits};
use serde_json::{Map, Value};

use crate::authorization::GrantPayload;
use crate::dpop::{self, DpopContext};
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};

/// A request to a protected resource, as the HTTP layer saw it.
pub struct ResourceRequest<'a> {
    pub method: &'a str,
    /// Every `Authorization` header value.
    pub authorization: Vec<&'a str>,
    pub dpop: Vec<&'a str>,
    /// The query string carried `access_token` (RFC 6750 §2.3, refused under FAPI 2.0 SP §5.3.4-2).
    pub token_in_query: bool,
    /// The form body carried `access_token` (RFC 6750 §2.2, likewise refused).
    pub token_in_body: bool,
}

fn resource_error(code: ErrorCode, msg: impl Into<String>) -> Error {
    Error::Resource(OAuthError::new(code, msg))
}

/// A verified access token.
pub struct AccessToken {
    pub claims: Map<String, Value>,
}

impl AccessToken {
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
    pub fn scopes(&self) -> Vec<&str> {
        self.claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }
}

const SCOPE_CLAIMS: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

impl Engine {
    /// Verifies a DPoP-bound access token presented at `url` (RFC 9449 §7.1, RFC 6750 §2.1).
    pub async fn verify_resource_request(
        &self,
        org: &OrgContext,
        request: &ResourceRequest<'_>,
        url: &str,
    ) -> Result<AccessToken> {
        if request.token_in_query || request.token_in_body {
            return Err(resource_error(
                ErrorCode::InvalidRequest,
                "access tokens are accepted only in the Authorization header",
            ));
        }
        let header = match request.authorization.as_slice() {
            [] => {
                return Err(resource_error(
                    ErrorCode::InvalidToken,
                    "an access token is required (Authorization: DPoP <token>)",
                ));
            }
            [one] => *one,
            _ => {
                return Err(resource_error(
                    ErrorCode::InvalidRequest,
                    "exactly one Authorization header is allowed",
                ));
            }
        };
        let (scheme, token) = header.split_once(' ').ok_or_else(|| {
            resource_error(
                ErrorCode::InvalidToken,
                "the Authorization header must be DPoP <token>",
            )
        })?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "this access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
            ));
        }
        if !scheme.eq_ignore_ascii_case("dpop") {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "unsupported authorization scheme; use DPoP",
            ));
        }
        let jws = Jws::parse(
            token,
            &JwsLimits {
                max_total_len: crate::policy::MAX_JWT_LEN,
            },
        )
        .map_err(|_| resource_error(ErrorCode::InvalidToken, "the access token is malformed"))?;
        if !clavex_jose::typ_matches(jws.typ(), "at+jwt") {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "the access token is not an RFC 9068 access token",
            ));
        }
        let keys = self.org_keys(&org.record.id).await?;
        let alg = jws.algorithm().map_err(|_| {
            resource_error(
                ErrorCode::InvalidToken,
                "the access token algorithm is not allowed",
            )
        })?;
        let key = keys.verification_key(jws.kid(), alg).ok_or_else(|| {
            resource_error(
                ErrorCode::InvalidToken,
                "the access token was not signed by this issuer",
            )
        })?;
        jws.verify_with(&key).map_err(|_| {
            resource_error(
                ErrorCode::InvalidToken,
                "the access token signature is invalid",
            )
        })?;
        let claims = jws.claims().clone();
        let now = self.now();
        if claims.get("iss").and_then(Value::as_str) != Some(org.issuer.as_str()) {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "the access token was issued by another issuer",
            ));
        }
        if claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|exp| exp <= now)
        {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "the access token has expired",
            ));
        }
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                resource_error(
                    ErrorCode::InvalidToken,
                    "the access token is not DPoP-bound",
                )
            })?
            .to_owned();
        let proof = dpop::verify_proof(
            &request.dpop,
            &DpopContext {
                method: request.method,
                url,
                access_token: Some(token),
            },
            now,
        )
        .map_err(Error::Resource)?;
        if proof.jkt != jkt {
            return Err(resource_error(
                ErrorCode::InvalidDpopProof,
                "the DPoP proof is signed by another key than the token is bound to",
            ));
        }
        if let Some(grant_id) = claims.get("grant_id").and_then(Value::as_str)
            && self.live_grant(org, grant_id).await?.is_none()
        {
            return Err(resource_error(
                ErrorCode::InvalidToken,
                "the authorization behind this access token has been revoked",
            ));
        }
        let namespace = format!("{}:{}", crate::replay::NS_DPOP, org.record.id);
        if !self
            .store
            .record_once(&namespace, &proof.replay_id, proof.replay_expires_at, now)
            .await?
        {
            return Err(resource_error(
                ErrorCode::InvalidDpopProof,
                "DPoP proof jti has already been used",
            ));
        }
        Ok(AccessToken { claims })
    }

    /// `GET`/`POST /{org}/userinfo`.
    pub async fn userinfo(&self, org_id: &str, request: &ResourceRequest<'_>) -> Result<Value> {
        let org = self.org(org_id).await?;
        let url = format!("{}/userinfo", org.issuer);
        let token = self.verify_resource_request(&org, request, &url).await?;
        let scopes = token.scopes();
        if !scopes.contains(&"openid") {
            return Err(resource_error(
                ErrorCode::InsufficientScope,
                "the access token was not issued with the openid scope",
            ));
        }
        let user_id = token.subject().ok_or_else(|| {
            resource_error(ErrorCode::InvalidToken, "the access token has no subject")
        })?;
        let all = self.user_claims(&org.record.id, user_id).await?;
        let mut out = Map::new();
        out.insert("sub".into(), Value::String(user_id.to_owned()));
        for (scope, names) in SCOPE_CLAIMS {
            if scopes.contains(&scope) {
                for name in names {
                    if let Some(v) = all.get(*name) {
                        out.insert((*name).to_owned(), v.clone());
                    }
                }
            }
        }
        // OIDC Core §5.5: claims requested for userinfo by the claims parameter.
        if let Some(grant_id) = token.claims.get("grant_id").and_then(Value::as_str)
            && let Some(grant) = self.store.get_grant(&org.record.id, grant_id).await?
            && let Ok(payload) = serde_json::from_str::<GrantPayload>(&grant.payload_json)
            && let Some(requested) = payload
                .claims
                .as_ref()
                .and_then(|c| c.get("userinfo"))
                .and_then(Value::as_object)
        {
            for name in requested.keys() {
                if let Some(v) = all.get(name) {
                    out.insert(name.clone(), v.clone());
                }
            }
        }
        Ok(Value::Object(out))
    }
}

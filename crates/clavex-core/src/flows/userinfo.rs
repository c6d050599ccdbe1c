//! Protected-resource checks for Clavex's own resource, the UserInfo endpoint (OIDC Core §5.3):
//! a DPoP-bound JWT access token (RFC 9068, RFC 9449 §7) whose grant is still live.
//!
//! The checks are `clavex-resource`'s, the library every resource server uses; here they run against
//! the organization's parsed keys (no JWKS fetch), record proofs in the store (single use across
//! nodes) and ask the store whether the token's grant is still live.

use std::sync::Arc;
use std::time::Duration;

use clavex_jose::{Algorithm, PublicKey};
use clavex_resource::{
    GrantStatus, KeySource, ReplayCache, ResourceConfig, ResourceError, ResourceErrorCode,
    ResourceVerifier,
};
use clavex_store::Store;
use serde_json::{Map, Value};

use crate::artifacts::GrantPayload;
use crate::connection::ConnectionFacts;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::keyring::OrgKeys;
use crate::policy;
use crate::policy::scope::ScopeSet;

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
    pub connection: &'a ConnectionFacts,
}

impl From<ResourceError> for Error {
    fn from(err: ResourceError) -> Self {
        match err.code {
            ResourceErrorCode::ServerError => Error::internal("verifying a resource request", err),
            _ => Error::Resource(err),
        }
    }
}

/// A verified access token.
pub struct AccessToken {
    pub claims: Map<String, Value>,
}

impl AccessToken {
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(
            self.claims
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
    }
}

/// The organization's published keys (active and retired), already parsed.
struct OrgKeySource(Arc<OrgKeys>);

#[clavex_resource::async_trait]
impl KeySource for OrgKeySource {
    async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> std::result::Result<Option<PublicKey>, ResourceError> {
        Ok(self.0.verification_key(kid, alg))
    }
}

/// DPoP proofs are single-use across every node: recorded in the store (one atomic statement), in
/// the same namespace as proofs at the token endpoint.
struct StoreReplay {
    store: Arc<dyn Store>,
    namespace: String,
}

#[clavex_resource::async_trait]
impl ReplayCache for StoreReplay {
    async fn record_once(
        &self,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> std::result::Result<bool, ResourceError> {
        self.store
            .record_once(&self.namespace, id, expires_at, now)
            .await
            .map_err(|e| ResourceError::server_error(format!("store: {e}")))
    }
}

/// A grant is live until it is revoked (code reuse, logout) or expires.
struct StoreGrants {
    store: Arc<dyn Store>,
    org_id: OrgId,
    now: i64,
}

#[clavex_resource::async_trait]
impl GrantStatus for StoreGrants {
    async fn is_active(&self, grant_id: &str) -> std::result::Result<bool, ResourceError> {
        let grant = self
            .store
            .get_grant(self.org_id.as_str(), grant_id)
            .await
            .map_err(|e| ResourceError::server_error(format!("store: {e}")))?;
        Ok(grant.is_some_and(|g| g.revoked_at.is_none() && g.expires_at > self.now))
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
        let presented = clavex_resource::ResourceRequest {
            method: request.method,
            url,
            authorization: &request.authorization,
            dpop: &request.dpop,
            token_in_query: request.token_in_query,
            token_in_body: request.token_in_body,
        };
        // Requests without a usable Authorization header are answered before any key is loaded.
        clavex_resource::presented_token(&presented)?;
        let now = self.now();
        let verifier = self.own_resource_verifier(org, now).await?;
        let verified = verifier.verify(&presented, now).await?;
        Ok(AccessToken {
            claims: verified.claims,
        })
    }

    /// The resource-server checks against this organization's own keys: any audience (UserInfo
    /// and introspection belong to the issuer, whatever API a token was issued for), proofs
    /// recorded in the store, grants checked in the store.
    async fn own_resource_verifier(&self, org: &OrgContext, now: i64) -> Result<ResourceVerifier> {
        let keys = self.org_keys(&org.id).await?;
        let config = ResourceConfig {
            issuer: org.issuer.clone(),
            jwks_uri: org.jwks_uri.clone(),
            audiences: Vec::new(),
            allowed_algs: policy::FAPI_ALGORITHMS.to_vec(),
            max_clock_skew: Duration::from_secs(policy::MAX_FUTURE_SKEW_SECS.unsigned_abs()),
            dpop_max_age: Duration::from_secs(policy::DPOP_MAX_AGE_SECS.unsigned_abs()),
            replay: Arc::new(StoreReplay {
                store: self.store.clone(),
                namespace: format!("{}:{}", crate::replay::NS_DPOP, org.record.id),
            }),
            grant_status: Some(Arc::new(StoreGrants {
                store: self.store.clone(),
                org_id: org.id.clone(),
                now,
            })),
            jwks: Default::default(),
        };
        Ok(ResourceVerifier::with_key_source(
            config,
            Arc::new(OrgKeySource(keys)),
        ))
    }

    /// The claims of an access token of this organization that verifies (signature, `typ`,
    /// issuer, expiry, DPoP binding present), without a proof: introspection and revocation are
    /// asked by clients that do not hold the token's key. `None` for any token that does not
    /// verify. Grant liveness is the caller's to check.
    pub(crate) async fn verified_access_token_claims(
        &self,
        org: &OrgContext,
        token: &str,
    ) -> Result<Option<Map<String, Value>>> {
        let now = self.now();
        let verifier = self.own_resource_verifier(org, now).await?;
        match verifier.verify_access_token(token, now).await {
            Ok(verified) => Ok(Some(verified.claims)),
            Err(err) if err.code == ResourceErrorCode::ServerError => {
                Err(Error::internal("verifying an access token", err))
            }
            Err(_) => Ok(None),
        }
    }

    /// `GET`/`POST /{org}/userinfo`.
    pub async fn userinfo(&self, org_id: &OrgId, request: &ResourceRequest<'_>) -> Result<Value> {
        let org = self.org(org_id).await?;
        let url = format!("{}/userinfo", org.issuer);
        let token = self.verify_resource_request(&org, request, &url).await?;
        let scopes = token.scopes();
        if !scopes.contains("openid") {
            return Err(Error::Resource(ResourceError::insufficient_scope(
                "the access token was not issued with the openid scope",
            )));
        }
        let user_id = token.subject().ok_or_else(|| {
            Error::Resource(ResourceError::invalid_token(
                "the access token has no subject",
            ))
        })?;
        let all = self.user_claims(&org.id, user_id).await?;
        let mut out = Map::new();
        out.insert("sub".into(), Value::String(user_id.to_owned()));
        for (scope, names) in SCOPE_CLAIMS {
            if scopes.contains(scope) {
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
            && let Ok(payload) = GrantPayload::of_grant(&grant)
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

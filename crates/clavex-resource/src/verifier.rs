//! The resource-server check of one request: an RFC 9068 JWT access token sent as
//! `Authorization: DPoP <token>` with a DPoP proof bound to it (RFC 9449 §7), FAPI 2.0 SP §5.3.4.

use std::sync::Arc;
use std::time::Duration;

use clavex_jose::{Algorithm, Jws, JwsLimits, PublicKey};
use serde_json::{Map, Value};

use crate::dpop::{self, DpopContext, DpopPolicy};
use crate::error::ResourceError;
use crate::keys::{JwksOptions, KeySource, RemoteJwks, StaticKeys};
use crate::policy;
use crate::replay::{MemoryReplayCache, ReplayCache};

/// Whether the authorization behind a token still stands. Tokens that carry a `grant_id` claim
/// (Clavex puts one in tokens from the authorization-code flow) are refused when it does not.
#[async_trait::async_trait]
pub trait GrantStatus: Send + Sync {
    /// `Ok(false)` for a revoked, expired or unknown grant; `Err` (a server error) only when the
    /// answer cannot be had.
    async fn is_active(&self, grant_id: &str) -> Result<bool, ResourceError>;
}

/// What a resource server accepts.
#[derive(Clone)]
pub struct ResourceConfig {
    /// The issuer identifier; the token's `iss` must equal it exactly.
    pub issuer: String,
    /// Where [`ResourceVerifier::new`] fetches the issuer's keys (`{issuer}/jwks` for Clavex).
    /// Not used by the constructors that take keys directly.
    pub jwks_uri: String,
    /// Accepted `aud` values: a token must name at least one (as a string or in an array). Empty:
    /// the audience is not checked.
    pub audiences: Vec<String>,
    /// Algorithms accepted for access tokens and DPoP proofs (and advertised in challenges).
    pub allowed_algs: Vec<Algorithm>,
    /// How far in the future a proof's `iat` (and a token's `nbf`) may be.
    pub max_clock_skew: Duration,
    /// How old a proof (by its `iat`) may be.
    pub dpop_max_age: Duration,
    /// Where used proofs are recorded.
    pub replay: Arc<dyn ReplayCache>,
    /// Optional grant-revocation check for tokens with a `grant_id` claim.
    pub grant_status: Option<Arc<dyn GrantStatus>>,
    /// Fetching and caching of `jwks_uri`.
    pub jwks: JwksOptions,
}

impl ResourceConfig {
    /// FAPI 2.0 defaults for a Clavex issuer: keys at `{issuer}/jwks`, PS256/ES256/EdDSA, proofs
    /// from 60 s old to 10 s ahead, an in-memory replay cache, no audience or grant check.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        ResourceConfig {
            jwks_uri: format!("{}/jwks", issuer.trim_end_matches('/')),
            issuer,
            audiences: Vec::new(),
            allowed_algs: policy::FAPI_ALGORITHMS.to_vec(),
            max_clock_skew: Duration::from_secs(policy::MAX_FUTURE_SKEW_SECS.unsigned_abs()),
            dpop_max_age: Duration::from_secs(policy::DPOP_MAX_AGE_SECS.unsigned_abs()),
            replay: Arc::new(MemoryReplayCache::new()),
            grant_status: None,
            jwks: JwksOptions::default(),
        }
    }
}

/// A request to a protected resource, as the HTTP layer saw it.
#[derive(Debug, Clone, Copy)]
pub struct ResourceRequest<'a> {
    pub method: &'a str,
    /// The absolute URL of the request as the resource server publishes it (its configured public
    /// base URL plus the request path; never from `Host`). Query and fragment are ignored.
    pub url: &'a str,
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a str],
    /// Every `DPoP` header value (header names are case-insensitive: `DPOP` is the same header).
    pub dpop: &'a [&'a str],
    /// The query string carried `access_token` (RFC 6750 §2.3, refused under FAPI 2.0 SP §5.3.4-2).
    pub token_in_query: bool,
    /// The form body carried `access_token` (RFC 6750 §2.2, likewise refused).
    pub token_in_body: bool,
}

/// A verified access token and the key it is bound to.
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    pub claims: Map<String, Value>,
    /// `cnf.jkt`: the thumbprint of the DPoP key the token is bound to.
    pub jkt: String,
}

impl VerifiedAccessToken {
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
    pub fn client_id(&self) -> Option<&str> {
        self.claims.get("client_id").and_then(Value::as_str)
    }
    pub fn grant_id(&self) -> Option<&str> {
        self.claims.get("grant_id").and_then(Value::as_str)
    }
    pub fn expires_at(&self) -> Option<i64> {
        self.claims.get("exp").and_then(Value::as_i64)
    }
    /// The space-separated `scope` claim, split.
    pub fn scopes(&self) -> Vec<&str> {
        self.claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }
    /// The objects of the token's `authorization_details` claim (RFC 9396 §9.1) whose `type` is
    /// `kind`: what the user approved, for the resource server to compare with the request.
    pub fn authorization_details_of_type(&self, kind: &str) -> Vec<&Map<String, Value>> {
        self.claims
            .get("authorization_details")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .filter(|o| o.get("type").and_then(Value::as_str) == Some(kind))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// `insufficient_scope` (403) unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ResourceError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ResourceError::insufficient_scope(format!(
                "the access token was not issued with the {scope} scope"
            )))
        }
    }
}

/// Verifies requests to one resource server. Cheap to share (`Arc`) across requests.
pub struct ResourceVerifier {
    config: ResourceConfig,
    keys: Arc<dyn KeySource>,
    dpop_policy: DpopPolicy,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl ResourceVerifier {
    /// Verifies tokens with the keys at `config.jwks_uri`, fetched over HTTP(S) on first use.
    pub fn new(config: ResourceConfig) -> Result<Self, ResourceError> {
        let keys = RemoteJwks::new(config.jwks_uri.clone(), config.jwks.clone())?;
        Ok(Self::with_key_source(config, Arc::new(keys)))
    }

    /// Verifies tokens with a key set held in memory (`config.jwks_uri` is not used).
    pub fn with_keys(config: ResourceConfig, keys: Vec<PublicKey>) -> Self {
        Self::with_key_source(config, Arc::new(StaticKeys::new(keys)))
    }

    /// Verifies tokens with keys from `keys` (`config.jwks_uri` is not used).
    pub fn with_key_source(config: ResourceConfig, keys: Arc<dyn KeySource>) -> Self {
        let dpop_policy = DpopPolicy {
            allowed_algs: config.allowed_algs.clone(),
            max_age_secs: secs(config.dpop_max_age),
            max_future_skew_secs: secs(config.max_clock_skew),
        };
        ResourceVerifier {
            config,
            keys,
            dpop_policy,
        }
    }

    pub fn config(&self) -> &ResourceConfig {
        &self.config
    }

    /// The `WWW-Authenticate` value for `err`, advertising this verifier's algorithms.
    pub fn challenge(&self, err: &ResourceError) -> Option<String> {
        err.www_authenticate_with(&self.config.allowed_algs)
    }

    /// Everything: token placement and headers, the access token (signature, `typ`, `iss`, `exp`,
    /// `nbf`, `aud`, `cnf.jkt`), the DPoP proof (RFC 9449 §4.3 with `ath`) and its key, the grant,
    /// and finally the proof's single use. `now` is Unix seconds (inject a clock in tests).
    pub async fn verify(
        &self,
        request: &ResourceRequest<'_>,
        now: i64,
    ) -> Result<VerifiedAccessToken, ResourceError> {
        let token = presented_token(request)?;
        let verified = self.verify_access_token(token, now).await?;
        let proof = dpop::verify_proof_with(
            request.dpop,
            &DpopContext {
                method: request.method,
                url: request.url,
                access_token: Some(token),
            },
            now,
            &self.dpop_policy,
        )?;
        if proof.jkt != verified.jkt {
            return Err(ResourceError::invalid_dpop_proof(
                "the DPoP proof is signed by another key than the token is bound to",
            ));
        }
        if let (Some(grants), Some(grant_id)) = (&self.config.grant_status, verified.grant_id())
            && !grants.is_active(grant_id).await?
        {
            return Err(ResourceError::invalid_token(
                "the authorization behind this access token has been revoked",
            ));
        }
        if !self
            .config
            .replay
            .record_once(&proof.replay_id, proof.replay_expires_at, now)
            .await?
        {
            return Err(ResourceError::invalid_dpop_proof(
                "DPoP proof jti has already been used",
            ));
        }
        Ok(verified)
    }

    /// The access token alone (RFC 9068 §4): signature by the issuer, `typ`, `iss`, `exp`, `nbf`,
    /// `aud`, and a DPoP binding (`cnf.jkt`). The proof is not looked at.
    pub async fn verify_access_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<VerifiedAccessToken, ResourceError> {
        let jws = Jws::parse(
            token,
            &JwsLimits {
                max_total_len: policy::MAX_JWT_LEN,
            },
        )
        .map_err(|_| ResourceError::invalid_token("the access token is malformed"))?;
        if !clavex_jose::typ_matches(jws.typ(), "at+jwt") {
            return Err(ResourceError::invalid_token(
                "the access token is not an RFC 9068 access token",
            ));
        }
        let alg =
            policy::allowed_algorithm(jws.alg_name(), &self.config.allowed_algs).map_err(|_| {
                ResourceError::invalid_token("the access token algorithm is not allowed")
            })?;
        let key = self.keys.key(jws.kid(), alg).await?.ok_or_else(|| {
            ResourceError::invalid_token("the access token was not signed by this issuer")
        })?;
        jws.verify_with(&key)
            .map_err(|_| ResourceError::invalid_token("the access token signature is invalid"))?;
        let claims = jws.claims().clone();
        if claims.get("iss").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(ResourceError::invalid_token(
                "the access token was issued by another issuer",
            ));
        }
        if claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|exp| exp <= now)
        {
            return Err(ResourceError::invalid_token("the access token has expired"));
        }
        match claims.get("nbf") {
            None => {}
            Some(Value::Number(n))
                if n.as_i64().is_some_and(|nbf| {
                    nbf <= now.saturating_add(secs(self.config.max_clock_skew))
                }) => {}
            Some(_) => {
                return Err(ResourceError::invalid_token(
                    "the access token is not valid yet (nbf)",
                ));
            }
        }
        if !self.config.audiences.is_empty() {
            let accepted = |v: &Value| {
                v.as_str()
                    .is_some_and(|a| self.config.audiences.iter().any(|x| x == a))
            };
            let ok = match claims.get("aud") {
                Some(Value::Array(items)) => items.iter().any(accepted),
                Some(v) => accepted(v),
                None => false,
            };
            if !ok {
                return Err(ResourceError::invalid_token(
                    "the access token is not meant for this resource (aud)",
                ));
            }
        }
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .ok_or_else(|| ResourceError::invalid_token("the access token is not DPoP-bound"))?
            .to_owned();
        Ok(VerifiedAccessToken { claims, jkt })
    }
}

/// The access token of a request, checking where and how it was sent: only in exactly one
/// `Authorization` header (FAPI 2.0 SP §5.3.4-2), with the `DPoP` scheme (case-insensitive,
/// RFC 9110 §11.1); `Bearer` is refused because every FAPI token is sender-constrained (RFC 9449 §7.2).
pub fn presented_token<'a>(request: &ResourceRequest<'a>) -> Result<&'a str, ResourceError> {
    if request.token_in_query || request.token_in_body {
        return Err(ResourceError::invalid_request(
            "access tokens are accepted only in the Authorization header",
        ));
    }
    let header = match request.authorization {
        [] => {
            return Err(ResourceError::invalid_token(
                "an access token is required (Authorization: DPoP <token>)",
            ));
        }
        [one] => *one,
        _ => {
            return Err(ResourceError::invalid_request(
                "exactly one Authorization header is allowed",
            ));
        }
    };
    let (scheme, token) = header.split_once(' ').ok_or_else(|| {
        ResourceError::invalid_token("the Authorization header must be DPoP <token>")
    })?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Err(ResourceError::invalid_token(
            "this access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
        ));
    }
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Err(ResourceError::invalid_token(
            "unsupported authorization scheme; use DPoP",
        ));
    }
    Ok(token)
}

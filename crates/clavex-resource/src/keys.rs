//! Where the issuer's verification keys come from: its JWKS fetched over HTTP(S) and cached
//! ([`RemoteJwks`]), or a key set the caller already holds ([`StaticKeys`], or any [`KeySource`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clavex_jose::{Algorithm, JwkSet, PublicKey};
use moka::future::Cache;

use crate::error::ResourceError;

/// The issuer's signing keys, as a resource server sees them.
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    /// The key that verifies a JWS with header `kid` and `alg`, if the issuer publishes one.
    /// `Err` only when the keys cannot be obtained at all (a server error, not a bad token).
    async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<PublicKey>, ResourceError>;
}

/// JWK Set selection rule (as [`JwkSet::select`]): with a `kid`, only the key with that `kid`; without
/// one, the single key that can verify `alg`. Keys whose `use` is not `sig` never verify.
pub fn select_key<'a>(
    keys: &'a [PublicKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'a PublicKey> {
    let usable = |k: &&PublicKey| k.key_use().is_none_or(|u| u == "sig") && k.supports(alg);
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid() == Some(kid)).filter(usable),
        None => {
            let mut candidates = keys.iter().filter(usable);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

/// A fixed set of keys (an issuer in the same process, or keys configured by hand).
#[derive(Clone, Debug)]
pub struct StaticKeys {
    keys: Vec<PublicKey>,
}

impl StaticKeys {
    pub fn new(keys: Vec<PublicKey>) -> Self {
        StaticKeys { keys }
    }

    pub fn from_set(set: &JwkSet) -> Self {
        StaticKeys {
            keys: set.keys().to_vec(),
        }
    }
}

#[async_trait::async_trait]
impl KeySource for StaticKeys {
    async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<PublicKey>, ResourceError> {
        Ok(select_key(&self.keys, kid, alg).cloned())
    }
}

/// How [`RemoteJwks`] fetches and caches.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// How long a fetched JWKS is used before it is fetched again.
    pub cache_ttl: Duration,
    /// A token naming a `kid` that is not in the cached set makes the set be fetched again (the
    /// issuer may have rotated its keys), at most once per this interval, so that tokens with made-up
    /// `kid`s cannot make the resource server hammer the issuer.
    pub refetch_interval: Duration,
    /// Time limit of one fetch.
    pub timeout: Duration,
    /// Size limit of the JWKS document.
    pub max_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            cache_ttl: Duration::from_secs(300),
            refetch_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
        }
    }
}

/// The issuer's `jwks_uri`, fetched on first use, cached for [`JwksOptions::cache_ttl`] and fetched
/// again early (rate-limited) when a token names an unknown `kid`: key rotation works without a
/// restart. Concurrent misses share one fetch.
pub struct RemoteJwks {
    uri: String,
    http: reqwest::Client,
    cache: Cache<(), Arc<JwkSet>>,
    options: JwksOptions,
    last_refetch: Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// `uri` is trusted configuration (http or https), not something a client chose.
    pub fn new(uri: impl Into<String>, options: JwksOptions) -> Result<Self, ResourceError> {
        let uri = uri.into();
        let parsed = url::Url::parse(&uri)
            .map_err(|e| ResourceError::server_error(format!("jwks_uri {uri}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ResourceError::server_error(format!(
                "jwks_uri {uri} must be http or https"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ResourceError::server_error(format!("http client: {e}")))?;
        Ok(RemoteJwks {
            uri,
            http,
            cache: Cache::builder()
                .max_capacity(1)
                .time_to_live(options.cache_ttl)
                .build(),
            options,
            last_refetch: Mutex::new(None),
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    async fn fetch(&self) -> Result<Arc<JwkSet>, ResourceError> {
        let fail = |what: String| ResourceError::server_error(format!("JWKS {}: {what}", self.uri));
        let mut response = self
            .http
            .get(&self.uri)
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            if body.len() + chunk.len() > self.options.max_bytes {
                return Err(fail(format!(
                    "larger than {} bytes",
                    self.options.max_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))?;
        let set = JwkSet::from_json(&value).map_err(|e| fail(e.to_string()))?;
        Ok(Arc::new(set))
    }

    async fn current(&self) -> Result<Arc<JwkSet>, ResourceError> {
        self.cache
            .try_get_with((), self.fetch())
            .await
            .map_err(|e| (*e).clone())
    }

    /// Whether an early refetch is allowed now (and, if so, counts it).
    fn may_refetch(&self) -> bool {
        let Ok(mut last) = self.last_refetch.lock() else {
            return false;
        };
        let now = Instant::now();
        match *last {
            Some(at) if now.duration_since(at) < self.options.refetch_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[async_trait::async_trait]
impl KeySource for RemoteJwks {
    async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<PublicKey>, ResourceError> {
        let set = self.current().await?;
        if let Some(key) = set.select(kid, alg) {
            return Ok(Some(key.clone()));
        }
        // Only an unknown kid suggests a rotation; a known kid with the wrong alg is just wrong.
        let Some(kid) = kid else {
            return Ok(None);
        };
        if set.keys().iter().any(|k| k.kid() == Some(kid)) || !self.may_refetch() {
            return Ok(None);
        }
        self.cache.invalidate(&()).await;
        let set = self.current().await?;
        Ok(set.select(Some(kid), alg).cloned())
    }
}

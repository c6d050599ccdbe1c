//! `Engine`: the store, the clock, the master key and the caches; one public method per protocol or
//! admin operation lives in the modules that `impl Engine` (token, client_auth, admin, discovery).

use std::sync::Arc;
use std::time::Duration;

use clavex_jose::JwkSet;
use clavex_store::{OrganizationRecord, Store};
use moka::future::Cache;

use crate::client::ResolvedClient;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::{ClientId, OrgId, unknown_organization};
use crate::jwks_fetch::JwksFetcher;
use crate::keyring::{self, OrgKeys};
use crate::master_key::MasterKey;
use crate::password::PasswordHasherPool;
use crate::records;
use crate::settings::OrgSettings;

pub struct EngineConfig {
    /// Base of every issuer, without trailing slash (e.g. `https://id.acme.eu`).
    pub public_url: String,
    /// Hosts (or `host:port`) whose `jwks_uri` may be plain http or resolve to non-public addresses.
    pub jwks_fetch_allow: Vec<String>,
    /// How long a node trusts its cached view of organizations, clients and keys. Changes made on
    /// another node become visible after at most this long.
    pub cache_ttl: Duration,
}

/// An organization as the protocol sees it: settings parsed and URLs derived once.
pub struct OrgContext {
    pub id: OrgId,
    pub record: OrganizationRecord,
    pub settings: OrgSettings,
    pub issuer: String,
    pub token_endpoint: String,
    pub par_endpoint: String,
    pub jwks_uri: String,
    pub default_audience: String,
}

pub(crate) struct RemoteKeys {
    pub set: Arc<JwkSet>,
    pub fetched_at: i64,
}

/// A failed fetch of a `jwks_uri`, remembered for [`crate::policy::JWKS_FETCH_FAILURE_RETRY_SECS`].
pub(crate) struct FailedJwksFetch {
    /// Why, as safe to show the client.
    pub reason: String,
    pub failed_at: i64,
}

pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) master: MasterKey,
    pub(crate) public_url: String,
    pub(crate) orgs: Cache<String, Arc<OrgContext>>,
    pub(crate) keys: Cache<String, Arc<OrgKeys>>,
    pub(crate) clients: Cache<(String, String), Arc<ResolvedClient>>,
    pub(crate) remote_keys: Cache<(String, String), Arc<RemoteKeys>>,
    /// Failed `jwks_uri` fetches by URI (negative cache). Whether one still applies is decided on
    /// the engine clock (`failed_at`); the cache's own expiry only bounds how long entries are kept.
    pub(crate) jwks_failures: Cache<String, Arc<FailedJwksFetch>>,
    pub(crate) fetcher: JwksFetcher,
    pub(crate) hasher: PasswordHasherPool,
    pub(crate) nonces: crate::dpop_nonce::NonceIssuer,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: MasterKey,
        config: EngineConfig,
    ) -> Result<Engine> {
        let fetcher = JwksFetcher::new(config.jwks_fetch_allow)
            .map_err(|e| Error::internal("the jwks_uri fetcher", e))?;
        let parallelism = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let nonces = crate::dpop_nonce::NonceIssuer::new(&master);
        Ok(Engine {
            store,
            clock,
            master,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            orgs: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(config.cache_ttl)
                .build(),
            keys: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(config.cache_ttl)
                .build(),
            clients: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.cache_ttl)
                .build(),
            remote_keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            jwks_failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            fetcher,
            hasher: PasswordHasherPool::new(parallelism),
            nonces,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn issuer_for(&self, org_id: &OrgId) -> String {
        format!("{}/{}", self.public_url, org_id)
    }

    /// The organization, from cache or store. `NotFound` when it does not exist.
    pub async fn org(&self, org_id: &OrgId) -> Result<Arc<OrgContext>> {
        if let Some(hit) = self.orgs.get(org_id.as_str()).await {
            return Ok(hit);
        }
        let record = self
            .store
            .get_organization(org_id.as_str())
            .await?
            .ok_or_else(|| unknown_organization(org_id.as_str()))?;
        let ctx = Arc::new(self.org_context(org_id.clone(), record)?);
        self.orgs.insert(org_id.to_string(), ctx.clone()).await;
        Ok(ctx)
    }

    fn org_context(&self, id: OrgId, record: OrganizationRecord) -> Result<OrgContext> {
        let settings = records::org_settings(&record)?;
        let issuer = self.issuer_for(&id);
        let default_audience = settings
            .default_audience
            .clone()
            .unwrap_or_else(|| format!("{issuer}/api"));
        Ok(OrgContext {
            token_endpoint: format!("{issuer}/token"),
            par_endpoint: format!("{issuer}/par"),
            jwks_uri: format!("{issuer}/jwks"),
            default_audience,
            issuer,
            settings,
            id,
            record,
        })
    }

    /// The organization's parsed signing keys and published JWKS.
    pub async fn org_keys(&self, org_id: &OrgId) -> Result<Arc<OrgKeys>> {
        if let Some(hit) = self.keys.get(org_id.as_str()).await {
            return Ok(hit);
        }
        let records = self.store.list_signing_keys(org_id.as_str()).await?;
        let loaded = Arc::new(keyring::load(&self.master, &records, self.now())?);
        self.keys.insert(org_id.to_string(), loaded.clone()).await;
        Ok(loaded)
    }

    /// The client with its parsed inline keys, from cache or store.
    pub async fn client(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
    ) -> Result<Option<Arc<ResolvedClient>>> {
        let key = (org_id.to_string(), client_id.to_string());
        if let Some(hit) = self.clients.get(&key).await {
            return Ok(Some(hit));
        }
        let Some(record) = self
            .store
            .get_client(org_id.as_str(), client_id.as_str())
            .await?
        else {
            return Ok(None);
        };
        let resolved = Arc::new(records::resolved_client(&record)?);
        self.clients.insert(key, resolved.clone()).await;
        Ok(Some(resolved))
    }

    pub(crate) async fn forget_client(&self, org_id: &OrgId, client_id: &ClientId) {
        let key = (org_id.to_string(), client_id.to_string());
        self.clients.invalidate(&key).await;
        self.remote_keys.invalidate(&key).await;
    }

    pub(crate) async fn forget_org(&self, org_id: &OrgId) {
        self.orgs.invalidate(org_id.as_str()).await;
        self.keys.invalidate(org_id.as_str()).await;
    }
}

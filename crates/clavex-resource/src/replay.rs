//! Single use of DPoP proofs (RFC 9449 §11.1): every accepted proof's `jti` is recorded until the
//! proof could no longer be accepted anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::ResourceError;

/// Where a resource server records used proofs. Implementations must be atomic: of two concurrent
/// calls with one `id`, exactly one may return `true`. A deployment of several resource-server
/// nodes needs a shared implementation (Clavex's own UserInfo endpoint records them in its store).
#[async_trait::async_trait]
pub trait ReplayCache: Send + Sync {
    /// Records `id` until `expires_at` (Unix seconds). `Ok(true)` if it was not recorded yet, or its
    /// record had expired before `now`; `Ok(false)` if it is a replay.
    async fn record_once(&self, id: &str, expires_at: i64, now: i64)
    -> Result<bool, ResourceError>;
}

/// An in-process [`ReplayCache`] for a single resource-server node.
///
/// Expired records are purged every [`MemoryReplayCache::PURGE_EVERY`] insertions and whenever the
/// cache is full. When it is still full after purging, new proofs are refused (a server error) rather
/// than forgetting records that are still live, which would allow replays.
pub struct MemoryReplayCache {
    inner: Mutex<Inner>,
    max_entries: usize,
}

struct Inner {
    entries: HashMap<String, i64>,
    inserts_since_purge: usize,
}

impl MemoryReplayCache {
    /// Insertions between two purges of expired records.
    pub const PURGE_EVERY: usize = 1024;
    /// Default capacity: a million live proofs (a minute's worth at over 15 000 requests/s).
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_MAX_ENTRIES)
    }

    pub fn with_capacity(max_entries: usize) -> Self {
        MemoryReplayCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                inserts_since_purge: 0,
            }),
            max_entries,
        }
    }

    /// Live and not yet purged records.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn record_once(
        &self,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, ResourceError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| ResourceError::server_error("replay cache lock poisoned"))?;
        if let Some(&until) = inner.entries.get(id)
            && until >= now
        {
            return Ok(false);
        }
        inner.inserts_since_purge += 1;
        if inner.inserts_since_purge >= Self::PURGE_EVERY || inner.entries.len() >= self.max_entries
        {
            inner.entries.retain(|_, until| *until >= now);
            inner.inserts_since_purge = 0;
        }
        if inner.entries.len() >= self.max_entries && !inner.entries.contains_key(id) {
            return Err(ResourceError::server_error(
                "the DPoP replay cache is full; refusing proofs until records expire",
            ));
        }
        inner.entries.insert(id.to_owned(), expires_at);
        Ok(true)
    }
}

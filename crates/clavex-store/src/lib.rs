//! Clavex storage.
//!
//! Two repository traits, [`Store`] and [`FlowStore`] (the authorization-code flow), speak domain
//! records (never sqlx rows). Two implementations share the same SQL text: [`sqlite::SqliteStore`]
//! (the embedded default, WAL) and [`postgres::PgStore`] (for several nodes sharing one database).
//! The `conformance` module is one test suite that every implementation must pass; both backends
//! run it. It is compiled only with the `conformance` feature, which the crate's own tests enable
//! (a dev-dependency on itself), so that the server binary does not carry test code.
//!
//! Architecture invariant: this crate holds no protocol rules. It stores and returns what it is given;
//! anything that must be single-use is made single-use here with one atomic statement, so that a
//! replay is refused across restarts and across nodes.

use async_trait::async_trait;

pub use flow::{ArtifactKind, ArtifactRecord, ConsentRecord, Consumed, FlowStore, GrantRecord};

// Test code: off in production builds, on for this crate's tests and for any crate that wants
// to check its own `Store` implementation.
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod flow;
pub mod postgres;
mod repo;
pub mod sqlite;

/// Unix time in seconds.
pub type UnixSeconds = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is already taken (organization id, client id, username, ...).
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The database failed; the message is for logs, never for a client.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One single-use record for [`Store::record_once_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayEntry<'a> {
    pub namespace: &'a str,
    pub id: &'a str,
    pub expires_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// URL-safe slug, also the last path segment of the issuer (`{public_url}/{id}`).
    pub id: String,
    pub display_name: String,
    /// Organization settings as a JSON document; their meaning belongs to `clavex-core`.
    pub settings_json: String,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenRecord {
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    /// `None` for a server-level admin token, which may create organizations.
    pub org_id: Option<String>,
    pub label: String,
    pub created_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub org_id: String,
    pub client_id: String,
    /// Registered client metadata as a JSON document (RFC 7591 names).
    pub metadata_json: String,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub org_id: String,
    pub user_id: String,
    /// Unique within the organization, compared case-sensitively as stored (callers normalise).
    pub username: String,
    /// Unique within the organization when present.
    pub email: Option<String>,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Profile claims (given_name, family_name, ...) as a JSON object.
    pub claims_json: String,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Signs new tokens. At most one active key per (org, alg).
    Active,
    /// No longer signs; still published until `publish_until`.
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(KeyStatus::Active),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub org_id: String,
    pub kid: String,
    /// JOSE algorithm name (`ES256`, `PS256`, `EdDSA`).
    pub alg: String,
    pub status: KeyStatus,
    /// Public JWK as JSON (published at `/{org}/jwks`).
    pub public_jwk_json: String,
    /// The PKCS#8 private key sealed with the master key (AES-256-GCM); opaque to the store.
    pub sealed_private_key: Vec<u8>,
    pub created_at: UnixSeconds,
    /// When the key was retired; `None` while active.
    pub retired_at: Option<UnixSeconds>,
    /// The public key stays published until this time (after every token it signed has expired).
    pub publish_until: Option<UnixSeconds>,
}

/// The repository. Every method is one short transaction or one atomic statement.
#[async_trait]
pub trait Store: FlowStore + Send + Sync + 'static {
    /// Cheap liveness probe of the database (`SELECT 1`).
    async fn ping(&self) -> StoreResult<()>;

    // Organizations.
    async fn insert_organization(&self, org: &OrganizationRecord) -> StoreResult<()>;
    async fn get_organization(&self, id: &str) -> StoreResult<Option<OrganizationRecord>>;
    async fn list_organizations(&self) -> StoreResult<Vec<OrganizationRecord>>;
    /// Replaces display name, settings and updated_at. `NotFound` when absent.
    async fn update_organization(&self, org: &OrganizationRecord) -> StoreResult<()>;
    /// Deletes the organization and everything it owns (clients, users, keys, admin tokens, and
    /// the [`FlowStore`] artifacts, grants and consents). `NotFound` when absent.
    async fn delete_organization(&self, id: &str) -> StoreResult<()>;

    // Admin tokens.
    async fn insert_admin_token(&self, token: &AdminTokenRecord) -> StoreResult<()>;
    async fn find_admin_token(&self, token_hash: &[u8]) -> StoreResult<Option<AdminTokenRecord>>;
    /// Removes every token of one organization (`Some`) or the server-level tokens (`None`).
    async fn delete_admin_tokens(&self, org_id: Option<&str>) -> StoreResult<u64>;

    // Clients.
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    async fn get_client(&self, org_id: &str, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    async fn list_clients(&self, org_id: &str) -> StoreResult<Vec<ClientRecord>>;
    /// Replaces metadata and updated_at. `NotFound` when absent.
    async fn update_client(&self, client: &ClientRecord) -> StoreResult<()>;
    async fn delete_client(&self, org_id: &str, client_id: &str) -> StoreResult<()>;

    // Users.
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn get_user(&self, org_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>>;
    /// Finds a user by username or by email (exact match on either).
    async fn find_user_by_login(
        &self,
        org_id: &str,
        login: &str,
    ) -> StoreResult<Option<UserRecord>>;
    async fn list_users(&self, org_id: &str) -> StoreResult<Vec<UserRecord>>;
    /// Replaces username, email, password_hash, claims and updated_at. `NotFound` when absent,
    /// `Conflict` when the new username or email is taken.
    async fn update_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn delete_user(&self, org_id: &str, user_id: &str) -> StoreResult<()>;

    // Signing keys.
    /// `Conflict` when the kid is taken in the organization, or when `key` is active and the
    /// organization already has an active key for `key.alg`.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Every key of the organization (active and retired), oldest first.
    async fn list_signing_keys(&self, org_id: &str) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Atomically retires the active key(s) of `(org_id, new_key.alg)` — setting `retired_at = now`
    /// and `publish_until` — and inserts `new_key` as active, in one transaction.
    /// `Conflict` (and nothing changed) when the kid is taken or a concurrent rotation won.
    async fn rotate_signing_key(
        &self,
        new_key: &SigningKeyRecord,
        now: UnixSeconds,
        publish_until: UnixSeconds,
    ) -> StoreResult<()>;
    /// Deletes retired keys whose `publish_until` is before `now`; returns how many.
    async fn purge_unpublished_keys(&self, now: UnixSeconds) -> StoreResult<u64>;

    // Single-use records (client assertion `jti`, DPoP proof `jti`, later codes and request_uris).
    /// Records `(namespace, id)` until `expires_at`. Returns `true` if it was new, `false` if it was
    /// already recorded and not yet expired (a replay). One atomic statement, so that two nodes
    /// racing on the same id see exactly one `true`. An expired record with the same key is replaced.
    async fn record_once(
        &self,
        namespace: &str,
        id: &str,
        expires_at: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Several [`record_once`](Store::record_once) in one call (the token endpoint's client
    /// assertion and DPoP proof): answers, in order, whether each record was new. Each record is
    /// decided on its own, with the same atomicity as `record_once`; a key given twice is new at
    /// most once. SQLite writes them in one group-commit batch, PostgreSQL in one statement (one
    /// commit instead of one per record).
    async fn record_once_many(
        &self,
        records: &[ReplayEntry<'_>],
        now: UnixSeconds,
    ) -> StoreResult<Vec<bool>>;
    /// Deletes replay records that expired before `now`; returns how many.
    async fn purge_expired_replays(&self, now: UnixSeconds) -> StoreResult<u64>;
}

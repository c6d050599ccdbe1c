//! Storage for the authorization-code flow (issue 3): pushed authorization requests, authorization
//! codes, sessions and refresh tokens as single-use or revocable *artifacts*; grants; remembered
//! consents; and login-throttling counters.
//!
//! Everything here may be read by any node, so every state change is one atomic statement.

use async_trait::async_trait;

use crate::{StoreResult, UnixSeconds};

/// What an artifact is. The kind is part of the key: a code can never be redeemed as a request_uri.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A pushed authorization request (RFC 9126), keyed by the hash of its `request_uri`.
    PushedRequest,
    /// An authorization code, keyed by the hash of the code.
    AuthorizationCode,
    /// A refresh token, keyed by the hash of the token.
    RefreshToken,
    /// A browser login session, keyed by the hash of the session cookie value.
    Session,
    /// A login/consent transaction bound to a session (CSRF-safe form state).
    Interaction,
    /// An RFC 7591 §3 initial access token (dynamic registration), keyed by the hash of the token;
    /// single-use ones are consumed, multi-use ones only read.
    InitialAccessToken,
    /// An RFC 7592 registration access token, keyed by the hash of the token; `client_id` names the
    /// client it manages.
    RegistrationAccessToken,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::PushedRequest => "par",
            ArtifactKind::AuthorizationCode => "code",
            ArtifactKind::RefreshToken => "refresh_token",
            ArtifactKind::Session => "session",
            ArtifactKind::Interaction => "interaction",
            ArtifactKind::InitialAccessToken => "initial_access_token",
            ArtifactKind::RegistrationAccessToken => "registration_access_token",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    pub kind: ArtifactKind,
    /// SHA-256 of the secret value (the secret itself is never stored).
    pub id_hash: Vec<u8>,
    pub org_id: String,
    /// The client it belongs to, if any (sessions have none).
    pub client_id: Option<String>,
    /// The grant it belongs to, if any (codes and refresh tokens), so revoking a grant reaches it.
    pub grant_id: Option<String>,
    /// What the engine needs back, as JSON; opaque to the store.
    pub payload_json: String,
    pub created_at: UnixSeconds,
    /// After this the artifact is no longer valid (consume/get report it as expired).
    pub expires_at: UnixSeconds,
    /// The record is kept until this time (≥ `expires_at`), so a reuse after expiry or consumption
    /// can still be recognised (e.g. to answer `invalid_request_uri` or revoke a replayed code's grant).
    pub retain_until: UnixSeconds,
    /// When it was consumed; `None` while unused.
    pub used_at: Option<UnixSeconds>,
}

/// The result of an atomic single-use consumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// This call consumed it: it was unused and not expired at `now`.
    Fresh(ArtifactRecord),
    /// It had already been consumed (by this or another node); the record shows when.
    AlreadyUsed(ArtifactRecord),
    /// It exists, unused, but expired.
    Expired(ArtifactRecord),
    /// No such artifact (never issued, or purged).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub grant_id: String,
    pub org_id: String,
    pub client_id: String,
    /// The user who authorized (None for grants without a user).
    pub user_id: Option<String>,
    /// Granted scope, authorization details, claims request, auth_time, acr ... as JSON.
    pub payload_json: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub org_id: String,
    pub user_id: String,
    pub client_id: String,
    /// Space-separated scopes the user approved for this client.
    pub scope: String,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

/// The flow repository. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore) and
/// [`PgStore`](crate::postgres::PgStore) next to [`Store`](crate::Store); checked by
/// `conformance::run_flow_all` (the `conformance` feature).
///
/// Artifacts, grants and consents belong to an organization: storing one for a missing
/// organization fails with `Backend` (a foreign key), and deleting the organization deletes them.
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores a new artifact, as given (`used_at` included). `Conflict` if `(kind, id_hash)` exists.
    async fn insert_artifact(&self, artifact: &ArtifactRecord) -> StoreResult<()>;
    /// Reads an artifact without consuming it (e.g. the login page reloads a pushed request).
    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        id_hash: &[u8],
    ) -> StoreResult<Option<ArtifactRecord>>;
    /// Atomically marks an unused, unexpired artifact as used at `now` and returns it as `Fresh`.
    /// Exactly one of several concurrent callers (on any node) gets `Fresh`.
    ///
    /// Expired means `expires_at <= now`. The `Fresh` record carries `used_at = Some(now)`; an
    /// `AlreadyUsed` one the `used_at` of the call that consumed it (a used artifact is
    /// `AlreadyUsed` even when also expired); an `Expired` one is left unused.
    async fn consume_artifact(
        &self,
        kind: ArtifactKind,
        id_hash: &[u8],
        now: UnixSeconds,
    ) -> StoreResult<Consumed>;
    /// [`consume_artifact`](FlowStore::consume_artifact), and when it is `Fresh`, in the same
    /// transaction, inserts `grant` and `issued` (the authorization response: the pushed request is
    /// spent, the grant and its code are stored, all or nothing). When the artifact is not `Fresh`
    /// nothing is written. `Conflict` (and nothing written) if the grant or the issued artifact's
    /// key exists.
    async fn consume_artifact_and_issue(
        &self,
        kind: ArtifactKind,
        id_hash: &[u8],
        now: UnixSeconds,
        grant: &GrantRecord,
        issued: &ArtifactRecord,
    ) -> StoreResult<Consumed>;
    /// Deletes an artifact (logout deletes the session). Returns whether it existed.
    async fn delete_artifact(&self, kind: ArtifactKind, id_hash: &[u8]) -> StoreResult<bool>;
    /// Deletes every artifact of `kind` belonging to client `client_id` of organization `org_id`;
    /// returns how many. Deleting a client uses it for the client's registration access tokens,
    /// which would otherwise be kept forever.
    async fn delete_client_artifacts(
        &self,
        kind: ArtifactKind,
        org_id: &str,
        client_id: &str,
    ) -> StoreResult<u64>;
    /// Deletes artifacts whose `retain_until` is before `now` (strictly); returns how many.
    async fn purge_artifacts(&self, now: UnixSeconds) -> StoreResult<u64>;

    /// Stores a new grant, as given. `Conflict` if `(org_id, grant_id)` exists.
    async fn insert_grant(&self, grant: &GrantRecord) -> StoreResult<()>;
    async fn get_grant(&self, org_id: &str, grant_id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Sets `revoked_at = now` if not yet revoked, and deletes every artifact of the grant (its codes
    /// and refresh tokens) in the same transaction. Returns whether this call revoked it: `false`
    /// for a missing or already revoked grant, whose first `revoked_at` stays (its artifacts are
    /// deleted all the same).
    async fn revoke_grant(
        &self,
        org_id: &str,
        grant_id: &str,
        now: UnixSeconds,
    ) -> StoreResult<bool>;

    /// Revokes every live grant of one user (setting `revoked_at = now`), deletes their artifacts and
    /// the user's consents, in one transaction; returns how many grants this call revoked. Used when
    /// a user is deleted, so that tokens issued for them stop working everywhere at once.
    async fn revoke_user_grants(
        &self,
        org_id: &str,
        user_id: &str,
        now: UnixSeconds,
    ) -> StoreResult<u64>;

    /// Inserts or replaces the consent of (org, user, client). A replacement takes `scope` and
    /// `updated_at` and keeps the stored `created_at`.
    async fn upsert_consent(&self, consent: &ConsentRecord) -> StoreResult<()>;
    async fn get_consent(
        &self,
        org_id: &str,
        user_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<ConsentRecord>>;
    /// Returns whether it existed.
    async fn delete_consent(
        &self,
        org_id: &str,
        user_id: &str,
        client_id: &str,
    ) -> StoreResult<bool>;

    /// Login throttling: atomically adds one to the counter `key` within a fixed window. When the
    /// stored window started before `window_start`, the counter restarts at 1 in the new window.
    /// Returns the count after the increment. A bump for a window older than the stored one (a
    /// node whose clock lags) counts on in the stored window. `now` is not used yet.
    async fn bump_counter(
        &self,
        key: &str,
        window_start: UnixSeconds,
        now: UnixSeconds,
    ) -> StoreResult<i64>;
    /// Reads the counter for the window starting at `window_start` (0 if older or absent). A stored
    /// window newer than `window_start` is read as is.
    async fn read_counter(&self, key: &str, window_start: UnixSeconds) -> StoreResult<i64>;
    /// Removes the counter (a later bump starts at 1). Removing an absent counter is no error.
    async fn reset_counter(&self, key: &str) -> StoreResult<()>;
}

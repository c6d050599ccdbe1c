//! The one repository implementation shared by both backends.
//!
//! Every statement lives once, in [`sql`], written with `$n` placeholders (which sqlx's SQLite
//! driver accepts too). Rows are read as plain tuples, which decode the same way on both backends,
//! and turned into records by the `*_from_row` functions below. The [`impl_store!`] macro expands
//! `impl Store` for a backend struct that has a `writer` and a `reader` pool of one sqlx database
//! type; only the pool types differ between the expansions, never the SQL.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{
    AdminTokenRecord, ArtifactKind, ArtifactRecord, ClientRecord, ConsentRecord, Consumed,
    GrantRecord, KeyStatus, OrganizationRecord, SigningKeyRecord, StoreError, StoreResult,
    UserRecord,
};

/// The SQL text, identical for SQLite and PostgreSQL.
pub(crate) mod sql {
    pub const PING: &str = "SELECT 1";

    pub const INSERT_ORG: &str = "INSERT INTO organizations \
        (id, display_name, settings_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)";
    pub const GET_ORG: &str = "SELECT id, display_name, settings_json, created_at, updated_at \
        FROM organizations WHERE id = $1";
    pub const LIST_ORGS: &str = "SELECT id, display_name, settings_json, created_at, updated_at \
        FROM organizations ORDER BY id";
    pub const UPDATE_ORG: &str = "UPDATE organizations \
        SET display_name = $2, settings_json = $3, updated_at = $4 WHERE id = $1";
    pub const DELETE_ORG: &str = "DELETE FROM organizations WHERE id = $1";

    pub const INSERT_ADMIN_TOKEN: &str = "INSERT INTO admin_tokens \
        (token_hash, org_id, label, created_at) VALUES ($1, $2, $3, $4)";
    pub const FIND_ADMIN_TOKEN: &str = "SELECT token_hash, org_id, label, created_at \
        FROM admin_tokens WHERE token_hash = $1";
    pub const DELETE_ORG_ADMIN_TOKENS: &str = "DELETE FROM admin_tokens WHERE org_id = $1";
    pub const DELETE_SERVER_ADMIN_TOKENS: &str = "DELETE FROM admin_tokens WHERE org_id IS NULL";

    pub const INSERT_CLIENT: &str = "INSERT INTO clients \
        (org_id, client_id, metadata_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)";
    pub const GET_CLIENT: &str = "SELECT org_id, client_id, metadata_json, created_at, updated_at \
        FROM clients WHERE org_id = $1 AND client_id = $2";
    pub const LIST_CLIENTS: &str = "SELECT org_id, client_id, metadata_json, created_at, updated_at \
        FROM clients WHERE org_id = $1 ORDER BY client_id";
    pub const UPDATE_CLIENT: &str = "UPDATE clients SET metadata_json = $3, updated_at = $4 \
        WHERE org_id = $1 AND client_id = $2";
    pub const DELETE_CLIENT: &str = "DELETE FROM clients WHERE org_id = $1 AND client_id = $2";

    pub const INSERT_USER: &str = "INSERT INTO users \
        (org_id, user_id, username, email, password_hash, claims_json, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    pub const GET_USER: &str = "SELECT org_id, user_id, username, email, password_hash, \
        claims_json, created_at, updated_at FROM users WHERE org_id = $1 AND user_id = $2";
    /// A username match wins over an email match (another user's username may look like an email).
    pub const FIND_USER_BY_LOGIN: &str = "SELECT org_id, user_id, username, email, password_hash, \
        claims_json, created_at, updated_at FROM users \
        WHERE org_id = $1 AND (username = $2 OR email = $2) \
        ORDER BY CASE WHEN username = $2 THEN 0 ELSE 1 END LIMIT 1";
    pub const LIST_USERS: &str = "SELECT org_id, user_id, username, email, password_hash, \
        claims_json, created_at, updated_at FROM users WHERE org_id = $1 ORDER BY username";
    pub const UPDATE_USER: &str = "UPDATE users SET username = $3, email = $4, password_hash = $5, \
        claims_json = $6, updated_at = $7 WHERE org_id = $1 AND user_id = $2";
    pub const DELETE_USER: &str = "DELETE FROM users WHERE org_id = $1 AND user_id = $2";

    pub const INSERT_KEY: &str = "INSERT INTO signing_keys \
        (org_id, kid, alg, status, public_jwk_json, sealed_private_key, created_at, retired_at, \
        publish_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    pub const LIST_KEYS: &str = "SELECT org_id, kid, alg, status, public_jwk_json, \
        sealed_private_key, created_at, retired_at, publish_until FROM signing_keys \
        WHERE org_id = $1 ORDER BY created_at, kid";
    pub const RETIRE_ACTIVE_KEYS: &str = "UPDATE signing_keys \
        SET status = 'retired', retired_at = $3, publish_until = $4 \
        WHERE org_id = $1 AND alg = $2 AND status = 'active'";
    pub const PURGE_KEYS: &str = "DELETE FROM signing_keys \
        WHERE status = 'retired' AND publish_until IS NOT NULL AND publish_until < $1";

    /// The single atomic statement behind `record_once`: inserts, or replaces an expired record;
    /// affects no row when a live record exists.
    pub const RECORD_ONCE: &str = "INSERT INTO replay (namespace, id, expires_at) \
        VALUES ($1, $2, $3) ON CONFLICT (namespace, id) \
        DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= $4";
    /// [`RECORD_ONCE`] for `rows` records in one statement: `$1..$3n` are the rows' `namespace`,
    /// `id`, `expires_at`, `$3n+1` is `now`; the returned keys are the records that were new (or
    /// replaced an expired one). The caller passes each key once.
    pub fn record_many_once(rows: usize) -> String {
        let values: Vec<String> = (0..rows)
            .map(|row| format!("(${}, ${}, ${})", row * 3 + 1, row * 3 + 2, row * 3 + 3))
            .collect();
        format!(
            "INSERT INTO replay (namespace, id, expires_at) VALUES {} \
             ON CONFLICT (namespace, id) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay.expires_at <= ${} RETURNING namespace, id",
            values.join(", "),
            rows * 3 + 1
        )
    }
    /// Same notion of "expired" as [`RECORD_ONCE`]: `expires_at <= now`.
    pub const PURGE_REPLAYS: &str = "DELETE FROM replay WHERE expires_at <= $1";

    // Flow storage (`FlowStore`, migration 0002).

    pub const INSERT_ARTIFACT: &str = "INSERT INTO artifacts \
        (kind, id_hash, org_id, client_id, grant_id, payload_json, created_at, expires_at, \
        retain_until, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    pub const GET_ARTIFACT: &str = "SELECT kind, id_hash, org_id, client_id, grant_id, \
        payload_json, created_at, expires_at, retain_until, used_at FROM artifacts \
        WHERE kind = $1 AND id_hash = $2";
    /// The single atomic statement behind `consume_artifact`: marks an unused, unexpired artifact
    /// used at `$3` and returns it; affects no row otherwise. Of racing callers, on any node, the
    /// first to take the row lock wins; the others re-check `used_at IS NULL` and find it set.
    /// Same notion of "expired" as the replay records: `expires_at <= now`.
    pub const CONSUME_ARTIFACT: &str = "UPDATE artifacts SET used_at = $3 \
        WHERE kind = $1 AND id_hash = $2 AND used_at IS NULL AND expires_at > $3 \
        RETURNING kind, id_hash, org_id, client_id, grant_id, payload_json, created_at, \
        expires_at, retain_until, used_at";
    pub const DELETE_ARTIFACT: &str = "DELETE FROM artifacts WHERE kind = $1 AND id_hash = $2";
    pub const DELETE_CLIENT_ARTIFACTS: &str =
        "DELETE FROM artifacts WHERE kind = $1 AND org_id = $2 AND client_id = $3";
    pub const PURGE_ARTIFACTS: &str = "DELETE FROM artifacts WHERE retain_until < $1";
    pub const DELETE_GRANT_ARTIFACTS: &str =
        "DELETE FROM artifacts WHERE org_id = $1 AND grant_id = $2";

    pub const INSERT_GRANT: &str = "INSERT INTO grants \
        (org_id, grant_id, client_id, user_id, payload_json, created_at, expires_at, revoked_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    pub const GET_GRANT: &str = "SELECT grant_id, org_id, client_id, user_id, payload_json, \
        created_at, expires_at, revoked_at FROM grants WHERE org_id = $1 AND grant_id = $2";
    /// Affects one row only for the call that revokes; a revoked grant keeps its first `revoked_at`.
    pub const REVOKE_GRANT: &str = "UPDATE grants SET revoked_at = $3 \
        WHERE org_id = $1 AND grant_id = $2 AND revoked_at IS NULL";

    pub const REVOKE_USER_GRANTS: &str = "UPDATE grants SET revoked_at = $3 \
        WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL";
    pub const DELETE_USER_GRANT_ARTIFACTS: &str = "DELETE FROM artifacts WHERE org_id = $1 \
        AND grant_id IN (SELECT grant_id FROM grants WHERE org_id = $1 AND user_id = $2)";
    pub const DELETE_USER_CONSENTS: &str =
        "DELETE FROM consents WHERE org_id = $1 AND user_id = $2";

    /// Inserts, or replaces scope and updated_at; `created_at` stays that of the first consent.
    pub const UPSERT_CONSENT: &str = "INSERT INTO consents \
        (org_id, user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (org_id, user_id, client_id) \
        DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at";
    pub const GET_CONSENT: &str = "SELECT org_id, user_id, client_id, scope, created_at, \
        updated_at FROM consents WHERE org_id = $1 AND user_id = $2 AND client_id = $3";
    pub const DELETE_CONSENT: &str =
        "DELETE FROM consents WHERE org_id = $1 AND user_id = $2 AND client_id = $3";

    /// The single atomic statement behind `bump_counter`. Both `SET` expressions read the row as it
    /// was before the update (on SQLite as on PostgreSQL), so both compare the *stored* window: a
    /// newer window restarts at 1, the same (or, from a node whose clock lags, an older) window
    /// counts on.
    pub const BUMP_COUNTER: &str = "INSERT INTO counters (key, window_start, count) \
        VALUES ($1, $2, 1) ON CONFLICT (key) DO UPDATE SET \
        count = CASE WHEN counters.window_start < excluded.window_start \
            THEN 1 ELSE counters.count + 1 END, \
        window_start = CASE WHEN counters.window_start < excluded.window_start \
            THEN excluded.window_start ELSE counters.window_start END \
        RETURNING count";
    /// A counter whose stored window started before `$2` counts as 0 (its window is over).
    pub const READ_COUNTER: &str =
        "SELECT count FROM counters WHERE key = $1 AND window_start >= $2";
    pub const RESET_COUNTER: &str = "DELETE FROM counters WHERE key = $1";
}

pub(crate) type OrgRow = (String, String, String, i64, i64);
pub(crate) type AdminTokenRow = (Vec<u8>, Option<String>, String, i64);
pub(crate) type ClientRow = (String, String, String, i64, i64);
pub(crate) type UserRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
);
pub(crate) type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
);

pub(crate) type ArtifactRow = (
    String,
    Vec<u8>,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);
pub(crate) type GrantRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
);
pub(crate) type ConsentRow = (String, String, String, String, i64, i64);

pub(crate) fn org_from_row(row: OrgRow) -> OrganizationRecord {
    let (id, display_name, settings_json, created_at, updated_at) = row;
    OrganizationRecord {
        id,
        display_name,
        settings_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn admin_token_from_row(row: AdminTokenRow) -> AdminTokenRecord {
    let (token_hash, org_id, label, created_at) = row;
    AdminTokenRecord {
        token_hash,
        org_id,
        label,
        created_at,
    }
}

pub(crate) fn client_from_row(row: ClientRow) -> ClientRecord {
    let (org_id, client_id, metadata_json, created_at, updated_at) = row;
    ClientRecord {
        org_id,
        client_id,
        metadata_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn user_from_row(row: UserRow) -> UserRecord {
    let (org_id, user_id, username, email, password_hash, claims_json, created_at, updated_at) =
        row;
    UserRecord {
        org_id,
        user_id,
        username,
        email,
        password_hash,
        claims_json,
        created_at,
        updated_at,
    }
}

pub(crate) fn key_from_row(row: KeyRow) -> StoreResult<SigningKeyRecord> {
    let (
        org_id,
        kid,
        alg,
        status,
        public_jwk_json,
        sealed_private_key,
        created_at,
        retired_at,
        publish_until,
    ) = row;
    let status = KeyStatus::parse(&status).ok_or_else(|| {
        StoreError::Backend(format!(
            "signing key {org_id}/{kid} has an unknown status {status:?}"
        ))
    })?;
    Ok(SigningKeyRecord {
        org_id,
        kid,
        alg,
        status,
        public_jwk_json,
        sealed_private_key,
        created_at,
        retired_at,
        publish_until,
    })
}

/// The inverse of [`ArtifactKind::as_str`].
pub(crate) fn artifact_kind_from_str(value: &str) -> Option<ArtifactKind> {
    let kind = match value {
        "par" => ArtifactKind::PushedRequest,
        "code" => ArtifactKind::AuthorizationCode,
        "refresh_token" => ArtifactKind::RefreshToken,
        "session" => ArtifactKind::Session,
        "interaction" => ArtifactKind::Interaction,
        "initial_access_token" => ArtifactKind::InitialAccessToken,
        "registration_access_token" => ArtifactKind::RegistrationAccessToken,
        _ => return None,
    };
    Some(kind)
}

pub(crate) fn artifact_from_row(row: ArtifactRow) -> StoreResult<ArtifactRecord> {
    let (
        kind,
        id_hash,
        org_id,
        client_id,
        grant_id,
        payload_json,
        created_at,
        expires_at,
        retain_until,
        used_at,
    ) = row;
    let kind = artifact_kind_from_str(&kind).ok_or_else(|| {
        StoreError::Backend(format!(
            "artifact of org {org_id} has an unknown kind {kind:?}"
        ))
    })?;
    Ok(ArtifactRecord {
        kind,
        id_hash,
        org_id,
        client_id,
        grant_id,
        payload_json,
        created_at,
        expires_at,
        retain_until,
        used_at,
    })
}

/// What `consume_artifact` reports when its atomic update took no row: `current` is the artifact
/// as read just after (or `None`). A used artifact is `AlreadyUsed` even when also expired.
pub(crate) fn not_consumed(current: Option<ArtifactRecord>, now: i64) -> Consumed {
    match current {
        None => Consumed::Missing,
        Some(artifact) if artifact.used_at.is_some() => Consumed::AlreadyUsed(artifact),
        Some(artifact) if artifact.expires_at <= now => Consumed::Expired(artifact),
        // Unused and live, yet the update did not see it: it was inserted after the update ran
        // (only a race with its own issuance can do that), so at that instant it was missing.
        Some(_) => Consumed::Missing,
    }
}

pub(crate) fn grant_from_row(row: GrantRow) -> GrantRecord {
    let (grant_id, org_id, client_id, user_id, payload_json, created_at, expires_at, revoked_at) =
        row;
    GrantRecord {
        grant_id,
        org_id,
        client_id,
        user_id,
        payload_json,
        created_at,
        expires_at,
        revoked_at,
    }
}

pub(crate) fn consent_from_row(row: ConsentRow) -> ConsentRecord {
    let (org_id, user_id, client_id, scope, created_at, updated_at) = row;
    ConsentRecord {
        org_id,
        user_id,
        client_id,
        scope,
        created_at,
        updated_at,
    }
}

/// Maps a sqlx error: unique or primary-key violations become [`StoreError::Conflict`], anything
/// else [`StoreError::Backend`].
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
    {
        let what = db.constraint().unwrap_or_else(|| db.message());
        return StoreError::Conflict(what.to_owned());
    }
    StoreError::Backend(err.to_string())
}

/// `NotFound` when an update or delete touched no row.
pub(crate) fn expect_one(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Builds a migrator from migration files embedded at compile time (`(file name, SQL)`), named
/// like sqlx expects: `<version>_<description>.sql`. Equivalent to `sqlx::migrate!` without
/// needing sqlx's `macros` feature; the checksum is the same SHA-384 of the file text.
pub(crate) fn migrator(files: &[(&'static str, &'static str)]) -> StoreResult<Migrator> {
    let mut migrations = Vec::with_capacity(files.len());
    for &(name, text) in files {
        let stem = name.strip_suffix(".sql").unwrap_or(name);
        let (version, description) = stem.split_once('_').ok_or_else(|| {
            StoreError::Backend(format!("migration file name {name:?} lacks a version"))
        })?;
        let version: i64 = version.parse().map_err(|_| {
            StoreError::Backend(format!("migration file name {name:?} has a bad version"))
        })?;
        migrations.push(Migration::new(
            version,
            Cow::Owned(description.replace('_', " ")),
            MigrationType::Simple,
            text.into_sql_str(),
            false,
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

pub(crate) fn migrate_err(err: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("migration failed: {err}"))
}

/// Expands `impl Store for $store`, where `$store` has fields `writer` and `reader` of type
/// `sqlx::Pool<$db>`. Writes (and the transaction of `rotate_signing_key`) go to `writer`, reads to
/// `reader`; a backend without a separate read pool passes the same pool twice.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::Store for $store {
            async fn ping(&self) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::PING)
                    .execute(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn insert_organization(
                &self,
                org: &$crate::OrganizationRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_ORG)
                    .bind(org.id.as_str())
                    .bind(org.display_name.as_str())
                    .bind(org.settings_json.as_str())
                    .bind(org.created_at)
                    .bind(org.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_organization(
                &self,
                id: &str,
            ) -> $crate::StoreResult<Option<$crate::OrganizationRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::OrgRow>($crate::repo::sql::GET_ORG)
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::org_from_row))
            }

            async fn list_organizations(
                &self,
            ) -> $crate::StoreResult<Vec<$crate::OrganizationRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::OrgRow>($crate::repo::sql::LIST_ORGS)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(rows.into_iter().map($crate::repo::org_from_row).collect())
            }

            async fn update_organization(
                &self,
                org: &$crate::OrganizationRecord,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_ORG)
                    .bind(org.id.as_str())
                    .bind(org.display_name.as_str())
                    .bind(org.settings_json.as_str())
                    .bind(org.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_organization(&self, id: &str) -> $crate::StoreResult<()> {
                // Clients, users, signing keys, admin tokens, artifacts, grants and consents go with
                // it (ON DELETE CASCADE).
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_ORG)
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_admin_token(
                &self,
                token: &$crate::AdminTokenRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_ADMIN_TOKEN)
                    .bind(token.token_hash.as_slice())
                    .bind(token.org_id.as_deref())
                    .bind(token.label.as_str())
                    .bind(token.created_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn find_admin_token(
                &self,
                token_hash: &[u8],
            ) -> $crate::StoreResult<Option<$crate::AdminTokenRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::AdminTokenRow>(
                    $crate::repo::sql::FIND_ADMIN_TOKEN,
                )
                .bind(token_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::admin_token_from_row))
            }

            async fn delete_admin_tokens(&self, org_id: Option<&str>) -> $crate::StoreResult<u64> {
                let done = match org_id {
                    Some(org_id) => {
                        ::sqlx::query::<$db>($crate::repo::sql::DELETE_ORG_ADMIN_TOKENS)
                            .bind(org_id)
                            .execute(&self.writer)
                            .await
                    }
                    None => {
                        ::sqlx::query::<$db>($crate::repo::sql::DELETE_SERVER_ADMIN_TOKENS)
                            .execute(&self.writer)
                            .await
                    }
                }
                .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn insert_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_CLIENT)
                    .bind(client.org_id.as_str())
                    .bind(client.client_id.as_str())
                    .bind(client.metadata_json.as_str())
                    .bind(client.created_at)
                    .bind(client.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_client(
                &self,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ClientRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::ClientRow>($crate::repo::sql::GET_CLIENT)
                        .bind(org_id)
                        .bind(client_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::client_from_row))
            }

            async fn list_clients(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::ClientRecord>> {
                let rows = ::sqlx::query_as::<$db, $crate::repo::ClientRow>(
                    $crate::repo::sql::LIST_CLIENTS,
                )
                .bind(org_id)
                .fetch_all(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(rows
                    .into_iter()
                    .map($crate::repo::client_from_row)
                    .collect())
            }

            async fn update_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_CLIENT)
                    .bind(client.org_id.as_str())
                    .bind(client.client_id.as_str())
                    .bind(client.metadata_json.as_str())
                    .bind(client.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_client(
                &self,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CLIENT)
                    .bind(org_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_user(&self, user: &$crate::UserRecord) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_USER)
                    .bind(user.org_id.as_str())
                    .bind(user.user_id.as_str())
                    .bind(user.username.as_str())
                    .bind(user.email.as_deref())
                    .bind(user.password_hash.as_str())
                    .bind(user.claims_json.as_str())
                    .bind(user.created_at)
                    .bind(user.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_user(
                &self,
                org_id: &str,
                user_id: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::UserRow>($crate::repo::sql::GET_USER)
                        .bind(org_id)
                        .bind(user_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::user_from_row))
            }

            async fn find_user_by_login(
                &self,
                org_id: &str,
                login: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::UserRow>(
                    $crate::repo::sql::FIND_USER_BY_LOGIN,
                )
                .bind(org_id)
                .bind(login)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::user_from_row))
            }

            async fn list_users(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::UserRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::UserRow>($crate::repo::sql::LIST_USERS)
                        .bind(org_id)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(rows.into_iter().map($crate::repo::user_from_row).collect())
            }

            async fn update_user(&self, user: &$crate::UserRecord) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_USER)
                    .bind(user.org_id.as_str())
                    .bind(user.user_id.as_str())
                    .bind(user.username.as_str())
                    .bind(user.email.as_deref())
                    .bind(user.password_hash.as_str())
                    .bind(user.claims_json.as_str())
                    .bind(user.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_user(&self, org_id: &str, user_id: &str) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_signing_key(
                &self,
                key: &$crate::SigningKeyRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_KEY)
                    .bind(key.org_id.as_str())
                    .bind(key.kid.as_str())
                    .bind(key.alg.as_str())
                    .bind(key.status.as_str())
                    .bind(key.public_jwk_json.as_str())
                    .bind(key.sealed_private_key.as_slice())
                    .bind(key.created_at)
                    .bind(key.retired_at)
                    .bind(key.publish_until)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn list_signing_keys(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::SigningKeyRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::KeyRow>($crate::repo::sql::LIST_KEYS)
                        .bind(org_id)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                rows.into_iter().map($crate::repo::key_from_row).collect()
            }

            async fn rotate_signing_key(
                &self,
                new_key: &$crate::SigningKeyRecord,
                now: $crate::UnixSeconds,
                publish_until: $crate::UnixSeconds,
            ) -> $crate::StoreResult<()> {
                // Dropping `tx` on an early return rolls it back.
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::RETIRE_ACTIVE_KEYS)
                    .bind(new_key.org_id.as_str())
                    .bind(new_key.alg.as_str())
                    .bind(now)
                    .bind(publish_until)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_KEY)
                    .bind(new_key.org_id.as_str())
                    .bind(new_key.kid.as_str())
                    .bind(new_key.alg.as_str())
                    .bind($crate::KeyStatus::Active.as_str())
                    .bind(new_key.public_jwk_json.as_str())
                    .bind(new_key.sealed_private_key.as_slice())
                    .bind(new_key.created_at)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)
            }

            async fn purge_unpublished_keys(
                &self,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_KEYS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn record_once(
                &self,
                namespace: &str,
                id: &str,
                expires_at: $crate::UnixSeconds,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<bool> {
                // Each backend decides how the one atomic statement reaches the database (SQLite
                // batches concurrent records into one transaction).
                self.record_once_atomic(namespace, id, expires_at, now)
                    .await
            }

            async fn record_once_many(
                &self,
                records: &[$crate::ReplayEntry<'_>],
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<Vec<bool>> {
                self.record_many_atomic(records, now).await
            }

            async fn purge_expired_replays(
                &self,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_REPLAYS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_store;

/// Expands `impl FlowStore for $store`, on the same `writer` / `reader` pools as [`impl_store!`].
/// Every state change goes to `writer` as one atomic statement (or, for `revoke_grant`, one
/// transaction); plain reads go to `reader`.
/// The `INSERT` of an artifact with its values bound (shared by the plain insert and the
/// transactional [`FlowStore::consume_artifact_and_issue`](crate::FlowStore)).
macro_rules! insert_artifact_query {
    ($db:ty, $artifact:expr) => {{
        let artifact: &$crate::ArtifactRecord = $artifact;
        ::sqlx::query::<$db>($crate::repo::sql::INSERT_ARTIFACT)
            .bind(artifact.kind.as_str())
            .bind(artifact.id_hash.as_slice())
            .bind(artifact.org_id.as_str())
            .bind(artifact.client_id.as_deref())
            .bind(artifact.grant_id.as_deref())
            .bind(artifact.payload_json.as_str())
            .bind(artifact.created_at)
            .bind(artifact.expires_at)
            .bind(artifact.retain_until)
            .bind(artifact.used_at)
    }};
}
pub(crate) use insert_artifact_query;

/// The `INSERT` of a grant with its values bound.
macro_rules! insert_grant_query {
    ($db:ty, $grant:expr) => {{
        let grant: &$crate::GrantRecord = $grant;
        ::sqlx::query::<$db>($crate::repo::sql::INSERT_GRANT)
            .bind(grant.org_id.as_str())
            .bind(grant.grant_id.as_str())
            .bind(grant.client_id.as_str())
            .bind(grant.user_id.as_deref())
            .bind(grant.payload_json.as_str())
            .bind(grant.created_at)
            .bind(grant.expires_at)
            .bind(grant.revoked_at)
    }};
}
pub(crate) use insert_grant_query;

macro_rules! impl_flow_store {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::FlowStore for $store {
            async fn insert_artifact(
                &self,
                artifact: &$crate::ArtifactRecord,
            ) -> $crate::StoreResult<()> {
                $crate::repo::insert_artifact_query!($db, artifact)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn consume_artifact_and_issue(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
                now: $crate::UnixSeconds,
                grant: &$crate::GrantRecord,
                issued: &$crate::ArtifactRecord,
            ) -> $crate::StoreResult<$crate::Consumed> {
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let taken = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::CONSUME_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::repo::db_err)?;
                let Some(row) = taken else {
                    // Nothing was written; dropping the transaction rolls it back.
                    drop(tx);
                    let current = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                        $crate::repo::sql::GET_ARTIFACT,
                    )
                    .bind(kind.as_str())
                    .bind(id_hash)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?
                    .map($crate::repo::artifact_from_row)
                    .transpose()?;
                    return Ok($crate::repo::not_consumed(current, now));
                };
                $crate::repo::insert_grant_query!($db, grant)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::insert_artifact_query!($db, issued)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                $crate::repo::artifact_from_row(row).map($crate::Consumed::Fresh)
            }

            async fn get_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
            ) -> $crate::StoreResult<Option<$crate::ArtifactRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::GET_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                row.map($crate::repo::artifact_from_row).transpose()
            }

            async fn consume_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<$crate::Consumed> {
                let taken = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::CONSUME_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.writer)
                .await
                .map_err($crate::repo::db_err)?;
                if let Some(row) = taken {
                    return $crate::repo::artifact_from_row(row).map($crate::Consumed::Fresh);
                }
                // Not taken: only says why. Nothing below can make it `Fresh`.
                let current = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::GET_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?
                .map($crate::repo::artifact_from_row)
                .transpose()?;
                Ok($crate::repo::not_consumed(current, now))
            }

            async fn delete_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
            ) -> $crate::StoreResult<bool> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_ARTIFACT)
                    .bind(kind.as_str())
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_client_artifacts(
                &self,
                kind: $crate::ArtifactKind,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CLIENT_ARTIFACTS)
                    .bind(kind.as_str())
                    .bind(org_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn purge_artifacts(&self, now: $crate::UnixSeconds) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_ARTIFACTS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn insert_grant(&self, grant: &$crate::GrantRecord) -> $crate::StoreResult<()> {
                $crate::repo::insert_grant_query!($db, grant)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_grant(
                &self,
                org_id: &str,
                grant_id: &str,
            ) -> $crate::StoreResult<Option<$crate::GrantRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::GrantRow>($crate::repo::sql::GET_GRANT)
                        .bind(org_id)
                        .bind(grant_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::grant_from_row))
            }

            async fn revoke_grant(
                &self,
                org_id: &str,
                grant_id: &str,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<bool> {
                // Dropping `tx` on an early return rolls it back.
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let revoked = ::sqlx::query::<$db>($crate::repo::sql::REVOKE_GRANT)
                    .bind(org_id)
                    .bind(grant_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                // Also when it was revoked already: an artifact issued in a race with the first
                // revocation goes now.
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_GRANT_ARTIFACTS)
                    .bind(org_id)
                    .bind(grant_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                Ok(revoked.rows_affected() == 1)
            }

            async fn revoke_user_grants(
                &self,
                org_id: &str,
                user_id: &str,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let revoked = ::sqlx::query::<$db>($crate::repo::sql::REVOKE_USER_GRANTS)
                    .bind(org_id)
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER_GRANT_ARTIFACTS)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER_CONSENTS)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                Ok(revoked.rows_affected())
            }

            async fn upsert_consent(
                &self,
                consent: &$crate::ConsentRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::UPSERT_CONSENT)
                    .bind(consent.org_id.as_str())
                    .bind(consent.user_id.as_str())
                    .bind(consent.client_id.as_str())
                    .bind(consent.scope.as_str())
                    .bind(consent.created_at)
                    .bind(consent.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_consent(
                &self,
                org_id: &str,
                user_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ConsentRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::ConsentRow>(
                    $crate::repo::sql::GET_CONSENT,
                )
                .bind(org_id)
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::consent_from_row))
            }

            async fn delete_consent(
                &self,
                org_id: &str,
                user_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<bool> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CONSENT)
                    .bind(org_id)
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn bump_counter(
                &self,
                key: &str,
                window_start: $crate::UnixSeconds,
                _now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<i64> {
                let (count,) = ::sqlx::query_as::<$db, (i64,)>($crate::repo::sql::BUMP_COUNTER)
                    .bind(key)
                    .bind(window_start)
                    .fetch_one(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(count)
            }

            async fn read_counter(
                &self,
                key: &str,
                window_start: $crate::UnixSeconds,
            ) -> $crate::StoreResult<i64> {
                let row = ::sqlx::query_as::<$db, (i64,)>($crate::repo::sql::READ_COUNTER)
                    .bind(key)
                    .bind(window_start)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(row.map_or(0, |(count,)| count))
            }

            async fn reset_counter(&self, key: &str) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::RESET_COUNTER)
                    .bind(key)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_flow_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_kinds_round_trip() {
        for kind in [
            ArtifactKind::PushedRequest,
            ArtifactKind::AuthorizationCode,
            ArtifactKind::RefreshToken,
            ArtifactKind::Session,
            ArtifactKind::Interaction,
            ArtifactKind::InitialAccessToken,
            ArtifactKind::RegistrationAccessToken,
        ] {
            // Stops compiling when a kind is added: list it above and in `artifact_kind_from_str`.
            match kind {
                ArtifactKind::PushedRequest
                | ArtifactKind::AuthorizationCode
                | ArtifactKind::RefreshToken
                | ArtifactKind::Session
                | ArtifactKind::Interaction
                | ArtifactKind::InitialAccessToken
                | ArtifactKind::RegistrationAccessToken => {}
            }
            assert_eq!(artifact_kind_from_str(kind.as_str()), Some(kind));
        }
        assert_eq!(artifact_kind_from_str("PAR"), None);
        assert_eq!(artifact_kind_from_str(""), None);
    }
}

//! The SQL text, identical for SQLite and PostgreSQL: every statement once, with `$n`
//! placeholders (which sqlx's SQLite driver accepts too), so that the two backends cannot drift
//! apart. Nothing outside this crate writes SQL.

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
pub const DELETE_USER_CONSENTS: &str = "DELETE FROM consents WHERE org_id = $1 AND user_id = $2";

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
pub const READ_COUNTER: &str = "SELECT count FROM counters WHERE key = $1 AND window_start >= $2";
pub const RESET_COUNTER: &str = "DELETE FROM counters WHERE key = $1";

-- Authorization-code flow storage, SQLite flavour. Keep in step with ../postgres/0002_flow.sql:
-- the two files differ only in the binary column type (BLOB here, BYTEA there).
-- Times are unix seconds (BIGINT); JSON documents are TEXT; hashes are binary.

-- Single-use or revocable artifacts (pushed requests, codes, refresh tokens, sessions, interactions),
-- keyed by kind and the hash of their secret. Kept until retain_until (>= expires_at), so that a
-- reuse after expiry or consumption is still recognised.
CREATE TABLE artifacts (
    kind         TEXT   NOT NULL,
    id_hash      BLOB   NOT NULL,
    org_id       TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id    TEXT,
    grant_id     TEXT,
    payload_json TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    retain_until BIGINT NOT NULL,
    -- NULL while unused; set once, by the one atomic consumption.
    used_at      BIGINT,
    PRIMARY KEY (kind, id_hash)
);

-- For purge_artifacts.
CREATE INDEX artifacts_retain_until ON artifacts (retain_until);
-- For revoke_grant, which deletes every artifact of the grant.
CREATE INDEX artifacts_org_grant ON artifacts (org_id, grant_id);

CREATE TABLE grants (
    org_id       TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    grant_id     TEXT   NOT NULL,
    client_id    TEXT   NOT NULL,
    -- NULL for a grant without a user.
    user_id      TEXT,
    payload_json TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    PRIMARY KEY (org_id, grant_id)
);

-- Remembered consents: the scopes a user approved for a client.
CREATE TABLE consents (
    org_id     TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    scope      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id, client_id)
);

-- Fixed-window counters (login throttling): count within the window starting at window_start.
CREATE TABLE counters (
    key          TEXT   NOT NULL PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);

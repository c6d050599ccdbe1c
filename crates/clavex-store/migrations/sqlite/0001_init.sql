-- Clavex schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql: the two files differ
-- only in the binary column type (BLOB here, BYTEA there).
-- Times are unix seconds (BIGINT); JSON documents are TEXT; hashes and sealed keys are binary.

CREATE TABLE organizations (
    id            TEXT   NOT NULL PRIMARY KEY,
    display_name  TEXT   NOT NULL,
    settings_json TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE admin_tokens (
    token_hash BLOB   NOT NULL PRIMARY KEY,
    -- NULL for a server-level token.
    org_id     TEXT   REFERENCES organizations (id) ON DELETE CASCADE,
    label      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX admin_tokens_org_id ON admin_tokens (org_id);

CREATE TABLE clients (
    org_id        TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id     TEXT   NOT NULL,
    metadata_json TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, client_id)
);

CREATE TABLE users (
    org_id        TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id       TEXT   NOT NULL,
    username      TEXT   NOT NULL,
    -- Several users may have no email: NULLs never collide in a UNIQUE constraint.
    email         TEXT,
    password_hash TEXT   NOT NULL,
    claims_json   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id),
    CONSTRAINT users_org_username UNIQUE (org_id, username),
    CONSTRAINT users_org_email UNIQUE (org_id, email)
);

CREATE TABLE signing_keys (
    org_id             TEXT   NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kid                TEXT   NOT NULL,
    alg                TEXT   NOT NULL,
    status             TEXT   NOT NULL CHECK (status IN ('active', 'retired')),
    public_jwk_json    TEXT   NOT NULL,
    sealed_private_key BLOB   NOT NULL,
    created_at         BIGINT NOT NULL,
    retired_at         BIGINT,
    publish_until      BIGINT,
    PRIMARY KEY (org_id, kid)
);

-- At most one active key per (organization, algorithm); two racing rotations cannot both win.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (org_id, alg) WHERE status = 'active';

-- Single-use records (jti of client assertions and DPoP proofs, ...), kept until expires_at.
CREATE TABLE replay (
    namespace  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, id)
);

CREATE INDEX replay_expires_at ON replay (expires_at);

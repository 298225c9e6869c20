-- 0002_identity: accounts, one-time codes, sessions (refresh-token
-- families), revoked access tokens, OAuth2 machine clients.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id                 TEXT    PRIMARY KEY,                 -- usr_...
    email              TEXT    NOT NULL UNIQUE,             -- normalised (auth/validate.h)
    email_verified_at  INTEGER,
    password_hash      TEXT    NOT NULL,                    -- argon2id, libsodium string format
    name               TEXT    NOT NULL,
    role               TEXT    NOT NULL DEFAULT 'customer'
                       CHECK (role IN ('customer', 'seller', 'admin')),
    seller_status      TEXT    CHECK (seller_status IN ('pending', 'approved', 'rejected')),
    status             TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX users_role ON users (role, id);
CREATE INDEX users_seller_status ON users (seller_status, id) WHERE seller_status IS NOT NULL;

CREATE TABLE auth_codes (
    id           TEXT    PRIMARY KEY,                       -- otc_...
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    code_hash    TEXT    NOT NULL,                          -- keyed BLAKE2b of the code, hex
    attempts     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    consumed_at  INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX auth_codes_user ON auth_codes (user_id, purpose, created_at);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,                     -- ses_... (one refresh-token family)
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent     TEXT,
    ip             TEXT,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoke_reason  TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash   TEXT    PRIMARY KEY,                       -- SHA-256 of the opaque token, hex
    session_id   TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    access_jti   TEXT    NOT NULL,                          -- the access token issued with it
    access_exp   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE denied_tokens (
    key          TEXT    PRIMARY KEY,                       -- a jti, or a subject (usr_/cli_)
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX denied_tokens_created ON denied_tokens (created_at);
CREATE INDEX denied_tokens_expires ON denied_tokens (expires_at);

CREATE TABLE oauth_clients (
    id           TEXT    PRIMARY KEY,                       -- cli_...
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,                          -- SHA-256 of the secret, hex
    scopes       TEXT    NOT NULL DEFAULT '',               -- space-separated
    rate_tier    TEXT    NOT NULL,
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

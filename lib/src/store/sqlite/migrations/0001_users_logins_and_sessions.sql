CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    username      TEXT,
    username_key  TEXT UNIQUE,
    email         TEXT UNIQUE,
    phone_number  TEXT UNIQUE,
    first_name    TEXT,
    last_name     TEXT,
    address       TEXT,
    secret_kind   TEXT NOT NULL CHECK (secret_kind IN ('password', 'pin')),
    secret_hash   TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    version       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL OR phone_number IS NOT NULL)
) STRICT;

CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY NOT NULL,
    failures      INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL,
    last_lock_ms  INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    expires_at    INTEGER
) STRICT;

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    refresh_jti   TEXT NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

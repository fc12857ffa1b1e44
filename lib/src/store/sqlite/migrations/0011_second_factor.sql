-- Second factor: an account's TOTP authenticator (pending until confirmed), its recovery codes
-- (hashes of those not yet used), and whether a login passed it.
CREATE TABLE factors (
    user_id       TEXT PRIMARY KEY NOT NULL,
    sealed_secret TEXT NOT NULL,
    active        INTEGER NOT NULL,
    last_step     INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL,
    hash    TEXT NOT NULL,
    PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;
ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0;

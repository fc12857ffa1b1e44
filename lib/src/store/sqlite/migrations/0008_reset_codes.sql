-- One-time codes that reset a forgotten secret, one record per account.
CREATE TABLE reset_codes (
    user_id          TEXT PRIMARY KEY NOT NULL,
    code_hash        TEXT,
    code_expires_at  INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    window_start     INTEGER NOT NULL,
    deliveries       INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE entries (
    user_id         TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    remarks         TEXT NOT NULL,
    balance_before  INTEGER NOT NULL CHECK (balance_before >= 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT;

CREATE TABLE transfers (
    transfer_id  TEXT PRIMARY KEY NOT NULL,
    from_user    TEXT NOT NULL,
    to_user      TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remarks      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at   INTEGER NOT NULL,
    settled_at   INTEGER,
    sender_seq   INTEGER NOT NULL
) STRICT;
CREATE INDEX transfers_pending ON transfers (created_at) WHERE status = 'PENDING';

CREATE TABLE idempotency (
    user_id       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    entry         TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, key)
) STRICT;

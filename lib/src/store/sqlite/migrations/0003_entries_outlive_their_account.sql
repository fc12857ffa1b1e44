-- Ledger entries outlive their account: the other party's history and the money check
-- depend on them. (SQLite can't drop a foreign key: the table is rebuilt without it.)
CREATE TABLE entries_kept (
    user_id         TEXT NOT NULL,
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
INSERT INTO entries_kept SELECT user_id, seq, kind, reference_id, amount, remarks,
    balance_before, balance_after, status, created_at FROM entries;
DROP TABLE entries;
ALTER TABLE entries_kept RENAME TO entries;

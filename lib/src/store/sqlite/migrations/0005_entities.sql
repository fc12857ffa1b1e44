-- Each user's inventory; a code is unique per user.
CREATE TABLE entities (
    entity_id    TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    code         TEXT NOT NULL,
    type         TEXT NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity >= 0),
    name         TEXT,
    description  TEXT,
    version      INTEGER NOT NULL CHECK (version >= 1),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (user_id, code)
) STRICT;
CREATE INDEX entities_by_type ON entities (user_id, type, code);

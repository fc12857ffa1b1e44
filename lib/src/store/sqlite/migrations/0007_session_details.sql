-- Sessions as their user sees them: when, last used, from what (logins made before this
-- read as created and last used at 0, from an unknown agent).
ALTER TABLE sessions ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

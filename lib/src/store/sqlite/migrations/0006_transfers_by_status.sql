-- Operators list transfers by status, newest first.
CREATE INDEX transfers_by_status ON transfers (status, created_at, transfer_id);

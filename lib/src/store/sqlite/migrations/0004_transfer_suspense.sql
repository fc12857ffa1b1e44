-- A transfer that could be neither credited nor refunded holds its money in suspense.
ALTER TABLE transfers ADD COLUMN suspense INTEGER NOT NULL DEFAULT 0 CHECK (suspense IN (0, 1));

-- Login throttles per client address: the secret generation a record counts against, and
-- how long the owner's login from that address exempts it from the account's ceiling.
ALTER TABLE login_throttle ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_throttle ADD COLUMN trusted_until INTEGER NOT NULL DEFAULT 0;

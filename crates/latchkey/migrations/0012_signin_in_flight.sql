-- Sign-in attempts in flight (see core::ratelimit, "Sign-in limits" in
-- ARCHITECTURE.md). Only failures count against a key, but a password is
-- checked only while its attempt holds a slot, and failures + slots held
-- never exceed the limit. Slots are counted per lease epoch (the clock's
-- seconds divided by the lease): in_flight holds the slots taken in
-- flight_epoch, in_flight_prev those of the epoch before it. Slots older than
-- that are dead (their process crashed), so a leaked slot frees itself after
-- one to two leases without anyone having to clean up.
ALTER TABLE signin_failures ADD COLUMN flight_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signin_failures ADD COLUMN in_flight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signin_failures ADD COLUMN in_flight_prev BIGINT NOT NULL DEFAULT 0;

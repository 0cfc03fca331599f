-- Device authorization grant (RFC 8628): one row per device authorization
-- request. Same SQL for SQLite and PostgreSQL.
--
-- The device code is stored as its SHA-256 (`hash`). The user code has only
-- ~35 bits, so a plain hash of it could be reversed by trying them all; it is
-- stored as an HMAC under the server key (`user_code_hash`) of its normalized
-- form (upper case, no dash). The unique index makes a collision fail the
-- insert, which then retries with a fresh code.
CREATE TABLE device_codes (
    hash TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    -- JSON array: the access token's aud (RFC 8707)
    audience TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- the current minimum seconds between polls; grows by 5 on each slow_down
    interval_seconds BIGINT NOT NULL,
    last_polled_at BIGINT,
    -- pending, approved, denied, redeemed
    status TEXT NOT NULL,
    -- who approved or denied, and when they last typed a password
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT,
    decided_at BIGINT,
    redeemed_at BIGINT
);

CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code_hash);
CREATE INDEX device_codes_expires ON device_codes (expires_at);

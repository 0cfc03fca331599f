-- Second factors (docs/mfa.md): TOTP authenticators, recovery codes, the
-- half-done sign-ins waiting for their second step, and what each session
-- and code knows of how its user signed in. Same SQL for SQLite and
-- PostgreSQL.

-- A user's TOTP authenticator (RFC 6238), at most one. `secret` is the
-- shared key sealed with AES-256-GCM under `mfa_encryption_key`
-- (core::mfa::seal), never the key itself. It counts as a second factor once
-- `confirmed` (the user typed a first code). `last_step` is the last time
-- step accepted: a code is accepted only by the conditional UPDATE that
-- moves it forward, so each code is accepted once, in every process alike.
CREATE TABLE mfa_totp (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed BOOLEAN NOT NULL,
    last_step BIGINT,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT
);

-- Recovery codes: an HMAC of each under the server key (they have ~50 bits,
-- so a plain hash could be searched), single use by a conditional UPDATE.
CREATE TABLE mfa_recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose first factor passed and whose second is outstanding:
-- the `/login/mfa` page's state (bound to the browser by the hash of its
-- `latchkey_browser` cookie) or a `/v1/signin` `mfa_token` (bound to the
-- client). Keyed by the SHA-256 of the random id; short-lived and taken
-- (deleted) by the one request that completes it.
CREATE TABLE mfa_challenges (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- core::mfa::ChallengeKind::as_str
    kind TEXT NOT NULL,
    -- the browser's hash (kind browser) or the client id (kind api)
    bound_to TEXT NOT NULL,
    -- the methods proved so far (RFC 8176 values, space-separated)
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    -- what to continue with once done, as JSON (core::mfa::ChallengeContext)
    context TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- How the session's user signed in (RFC 8176 values, space-separated):
-- sessions before this migration were all password sign-ins.
ALTER TABLE browser_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- The session's methods at the time the code was issued, for the ID token's
-- `amr` and `acr`.
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

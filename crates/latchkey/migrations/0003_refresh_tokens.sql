-- Refresh tokens (rotation and reuse detection, RFC 9700 §4.14), the
-- access-token deny list (RFC 7009 revocation; docs/endpoints.md) and the
-- sign-in failure counters (docs/signin-limits.md). Same SQL for SQLite and
-- PostgreSQL.

-- A family: every refresh token descending from one grant (one sign-in, one
-- code redemption, one device authorization). Revoking the family kills every
-- token in it at once, including a successor inserted concurrently with the
-- revocation: a token is live only while its family is.
CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the scope the resource owner granted: refreshes may narrow it, never widen
    scope TEXT NOT NULL,
    auth_time BIGINT,
    -- what the family was issued from, e.g. 'password', 'code:<hash>',
    -- 'device:<hash>': lets a replayed code revoke what it issued
    origin TEXT,
    created_at BIGINT NOT NULL,
    -- the absolute lifetime: no token of the family lives past it
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE INDEX refresh_families_origin ON refresh_families (origin) WHERE origin IS NOT NULL;
CREATE INDEX refresh_families_expires ON refresh_families (expires_at);

-- One row per refresh token ever issued (until purged), keyed by the SHA-256
-- of the token: the token itself is never stored.
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    -- the idle lifetime, capped by the family's absolute one
    expires_at BIGINT NOT NULL,
    -- set, once, by the rotation that consumed this token
    used_at BIGINT,
    -- the hash of the token that rotation issued
    successor_hash TEXT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Revoked access tokens, by jti, until they would have expired anyway.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens (expires_at);

-- Failed sign-in counters, one fixed window per key. The key is an HMAC of
-- 'username:<normalized email>' or 'address:<ip>': what people typed into a
-- username field (sometimes a password) is never stored.
CREATE TABLE signin_failures (
    counter_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

CREATE INDEX signin_failures_window ON signin_failures (window_start);

-- Browser flows (docs/browser-flows.md): sessions, pending authorization requests,
-- authorization codes and remembered consents. Same SQL for SQLite and
-- PostgreSQL. Every secret (session id, request id, code) is stored as its
-- SHA-256 only.

-- A signed-in browser: the `latchkey_session` cookie holds the id, this table
-- its hash. Every process serves the next request of the session, and
-- deleting the row (logout, `user disable`, `user revoke-sessions`) ends it
-- everywhere.
CREATE TABLE browser_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- when the user last typed a password (OIDC `auth_time`)
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- the idle lifetime, pushed forward as the session is used
    idle_expires_at BIGINT NOT NULL,
    -- the absolute lifetime, never pushed
    expires_at BIGINT NOT NULL
);

CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires ON browser_sessions (idle_expires_at);

-- An authorization request waiting for the login or consent page, keyed by
-- the hash of a random id that travels in the pages' URLs and forms, and
-- bound to the browser that started it (hash of its `latchkey_browser`
-- cookie): another browser holding the id cannot continue it.
CREATE TABLE authorization_requests (
    id_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- the validated request, as JSON
    request TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX authorization_requests_expires ON authorization_requests (expires_at);

-- Authorization codes (RFC 6749 §4.1.2): single use, short-lived, bound to
-- the client, redirect URI, PKCE challenge, nonce, scope, user and auth_time.
-- A redeemed code keeps its row until it expires, with the jti of the access
-- token it issued, so that a replay can revoke what the first redemption got.
CREATE TABLE authorization_codes (
    hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    scope TEXT NOT NULL,
    nonce TEXT,
    -- JSON array: the access token's aud (RFC 8707)
    audience TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    access_jti TEXT,
    access_expires_at BIGINT
);

CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

-- Consents a user gave a client: the union of the scopes granted so far.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Passkeys (WebAuthn Level 2, docs/mfa.md): the credentials each user
-- registered, and the state of ceremonies between their start and finish.
-- Same SQL for SQLite and PostgreSQL.

CREATE TABLE passkeys (
    -- our handle for the account page's forms (random, base64url)
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the WebAuthn credential id, base64url: what an assertion names
    credential_id TEXT NOT NULL UNIQUE,
    -- the credential as webauthn-rs serializes it (public key, counter,
    -- flags), JSON; public material only
    passkey TEXT NOT NULL,
    name TEXT NOT NULL,
    -- the last signature counter seen: an assertion whose counter does not
    -- exceed it (a cloned authenticator) is refused
    sign_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE INDEX passkeys_user ON passkeys (user_id);

-- A registration or authentication between its start (the challenge sent
-- to the browser) and its finish: keyed by the SHA-256 of a random id the
-- page carries, bound to the browser that started it (hash of its
-- `latchkey_browser` cookie), taken (deleted) by the one finish that uses
-- it, so that any process may finish what another started.
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    -- 'register', 'authenticate'
    kind TEXT NOT NULL,
    -- the user registering (NULL for a sign-in, which finds its user)
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- webauthn-rs's ceremony state (the challenge), JSON; never sent out
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

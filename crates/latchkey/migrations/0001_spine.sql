-- The spine: clients, signing keys, server secrets.
-- Written in the SQL that SQLite and PostgreSQL both accept: times are BIGINT
-- Unix seconds bound by the application, lists are JSON text, hashes base64url text.

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- SHA-256 of the secret, base64url; NULL for a public client.
    secret_hash TEXT,
    first_party BOOLEAN NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    -- space-separated grant_type values
    grant_types TEXT NOT NULL,
    -- space-separated scope tokens
    scopes TEXT NOT NULL,
    audiences TEXT NOT NULL,
    token_delivery TEXT NOT NULL CHECK (token_delivery IN ('body', 'cookie')),
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    state TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    remove_after BIGINT
);

-- At most one current and one next key, whatever processes race to do.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

-- Server-side secrets shared by every process (HMAC keys and the like),
-- generated on first start.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

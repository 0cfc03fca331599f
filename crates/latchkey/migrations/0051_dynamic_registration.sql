-- Dynamic client registration (RFC 7591, 7592; docs/admin.md).
-- Initial access tokens, made by `latchkey client initial-token`, stored as
-- SHA-256 (base64url). uses_left NULL: any number; expires_at NULL: never.
CREATE TABLE initial_access_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT,
    uses_left BIGINT,
    created_at BIGINT NOT NULL
);

-- The registration access token of a dynamically registered client
-- (RFC 7592), SHA-256 (base64url); NULL for clients an administrator made.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

-- Sender-constrained tokens (docs/sender-constrained.md). Same SQL for
-- SQLite and PostgreSQL.

-- What a client must do beyond authenticating (require DPoP, ...): a JSON
-- object, read by core::clients::ClientPolicy; '{}' requires nothing.
ALTER TABLE clients ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';

-- The RFC 7638 thumbprint of the DPoP key a public client's refresh tokens
-- are bound to (RFC 9449 §5); NULL: not bound.
ALTER TABLE refresh_families ADD COLUMN dpop_jkt TEXT;

-- The jti of every DPoP proof accepted in the last few minutes, keyed by
-- an HMAC of the key's thumbprint and the jti: a second insert of one key
-- fails in every process alike, so a proof is accepted once (RFC 9449 §11.1).
CREATE TABLE dpop_jtis (
    jti_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX dpop_jtis_expires ON dpop_jtis (expires_at);

-- The jti of every private_key_jwt client assertion accepted and not yet
-- expired (RFC 7523 §3: "The authorization server MAY ensure that JWTs are
-- not replayed"), keyed by an HMAC of the client id and the jti: a second
-- insert of one key fails in every process alike. Same SQL for SQLite and
-- PostgreSQL.
CREATE TABLE client_assertion_jtis (
    jti_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);

-- Pushed authorization requests (RFC 9126). Same SQL for SQLite and
-- PostgreSQL. Keyed by the SHA-256 of the random part of the request_uri;
-- taken (deleted) by the one authorization request that uses it.
CREATE TABLE pushed_requests (
    id_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- the pushed parameters: a JSON array of [name, value] pairs
    params TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

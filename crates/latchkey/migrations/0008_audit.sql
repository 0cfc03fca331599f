-- The audit trail of security events (sign-ins, lockouts, refresh-token
-- reuse, revocations, admin changes). Rows are written by a background task
-- in batches (see core::audit) and purged after `audit_retention_days`.
-- Never a secret in here: actors and subjects are ids, addresses are IPs.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    -- e.g. 'signin', 'signin_refused', 'refresh_reuse', 'revoke', 'client_create'
    kind TEXT NOT NULL,
    -- who did it: 'user:<id>', 'client:<id>', 'cli', or 'anonymous'
    actor TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    address TEXT,
    -- 'success', 'failure', 'refused', ...
    outcome TEXT NOT NULL,
    -- free-form, non-secret detail (a family id, a key id, a reason)
    detail TEXT
);

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);

-- The outbox (see core::outbox): durable side effects such as e-mails and
-- back-channel logout notifications, written in the same transaction as the
-- change that causes them and delivered afterwards by a worker in every
-- process. A row is leased to one worker at a time (leased_until,
-- lease_owner); done rows are purged by housekeeping.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    -- which deliverer takes it: 'email', 'backchannel_logout', ...
    kind TEXT NOT NULL,
    -- JSON for the deliverer
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- delivery is abandoned after this moment
    expires_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    leased_until BIGINT,
    lease_owner TEXT,
    -- set when delivered or given up
    done_at BIGINT,
    delivered BOOLEAN NOT NULL DEFAULT FALSE,
    -- the last failure, never a secret
    last_error TEXT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE done_at IS NULL;
CREATE INDEX outbox_done ON outbox (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX outbox_kind ON outbox (kind, created_at);

-- OpenID Connect Back-Channel Logout 1.0 (docs/logout-and-exchange.md).
--
-- A client may register the URI latchkey POSTs a logout token to when a
-- browser session in which it got an ID token ends.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- The browser session an authorization code was issued in (the stored hash
-- of its id, as in browser_sessions), so that redeeming the code can put
-- the session's `sid` in the ID token and record the client against it.
ALTER TABLE authorization_codes ADD COLUMN session_hash TEXT;

-- Which clients got an ID token in which session, for the clients that
-- registered a back-channel logout URI. Ending a session takes its rows and
-- writes one outbox message per row, in the same transaction.
CREATE TABLE session_clients (
    -- browser_sessions.id_hash of the session (no foreign key: the row must
    -- outlive a session row deleted by another path until it is taken)
    session_hash TEXT NOT NULL,
    -- the session's `sid` (an HMAC of session_hash under the server key)
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    -- the session's absolute lifetime at the latest: purged after it
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);

CREATE INDEX session_clients_user ON session_clients (user_id);
CREATE INDEX session_clients_expires ON session_clients (expires_at);

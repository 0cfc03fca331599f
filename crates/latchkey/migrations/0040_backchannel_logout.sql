-- OpenID Connect Back-Channel Logout 1.0 (docs/logout-and-exchange.md).
--
-- A client may register the URI latchkey POSTs a logout token to when a
-- browser session in which it got an ID token ends.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- The session an authorization code was issued in, as its `sid` (an HMAC
-- of the session id's hash under the server key: never the session id), so
-- that the ID token of the code carries it.
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;

-- Which clients got an ID token in which session, for the clients that
-- registered a back-channel logout URI. Ending a session takes its rows and
-- writes one outbox message per row, in the same transaction.
CREATE TABLE session_clients (
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    -- the session's absolute lifetime at the latest: purged after it
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

CREATE INDEX session_clients_user ON session_clients (user_id);
CREATE INDEX session_clients_expires ON session_clients (expires_at);

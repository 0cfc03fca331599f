-- Accounts (docs/accounts.md): whether a user's e-mail address is verified,
-- and the single-use tokens of the e-mailed links (verification, password
-- reset).
--
-- Existing users were made by an operator, who vouches for their address:
-- they start verified, as operator-made users do from now on.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE account_tokens (
    -- SHA-256 of the token, base64url: the token itself is only in the e-mail
    hash TEXT PRIMARY KEY,
    -- 'verify_email' or 'reset_password'
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- set, once, by the use that consumed it
    used_at BIGINT
);

CREATE INDEX account_tokens_user ON account_tokens (user_id);
CREATE INDEX account_tokens_expires ON account_tokens (expires_at);

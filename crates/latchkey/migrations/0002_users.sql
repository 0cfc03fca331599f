-- Users. Emails are unique case-insensitively through email_normalized
-- (trimmed, lowercased by the application).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    name TEXT,
    -- JSON array of role names
    roles TEXT NOT NULL,
    -- Argon2id PHC string
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

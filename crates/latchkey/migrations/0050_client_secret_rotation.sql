-- Client secret rotation with grace (docs/admin.md): the secret a rotation
-- replaced keeps working until previous_secret_expires_at (Unix seconds).
-- Stored hashed like the current one (SHA-256, base64url).
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;

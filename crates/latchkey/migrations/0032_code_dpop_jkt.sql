-- An authorization code bound to a DPoP key (RFC 9449 §10): the RFC 7638
-- thumbprint the authorization request named in `dpop_jkt` (or the key of
-- the proof sent to the PAR endpoint, §10.1). NULL: not bound. Same SQL
-- for SQLite and PostgreSQL.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;

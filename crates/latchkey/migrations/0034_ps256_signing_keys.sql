-- PS256 signing keys (signing_alg = "PS256"; RFC 7518 §3.5). The CHECK on
-- signing_keys.alg is widened; SQLite cannot alter a CHECK, so the table is
-- rebuilt, rows and indexes alike. Same SQL for SQLite and PostgreSQL.
CREATE TABLE signing_keys_ps256 (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL CHECK (alg IN ('RS256', 'PS256', 'ES256', 'EdDSA')),
    state TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    remove_after BIGINT
);

INSERT INTO signing_keys_ps256
    (kid, alg, state, private_key, created_at, activated_at, retired_at, remove_after)
SELECT kid, alg, state, private_key, created_at, activated_at, retired_at, remove_after
FROM signing_keys;

DROP TABLE signing_keys;

ALTER TABLE signing_keys_ps256 RENAME TO signing_keys;

-- At most one current and one next key, whatever processes race to do.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

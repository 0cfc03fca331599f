-- Generation counters that processes poll to invalidate their in-memory caches
-- (see core::clients::ClientCache). A writer that changes or removes a cached
-- row bumps the counter in the same transaction.
CREATE TABLE cache_generations (
    name TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);

INSERT INTO cache_generations (name, generation) VALUES ('clients', 0);

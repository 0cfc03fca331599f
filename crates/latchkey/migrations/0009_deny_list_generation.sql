-- The access-token deny list is mirrored in each process's memory (see
-- core::revocation::DenyListCache); every insert bumps this counter in the
-- same transaction, so that other processes reload within the revalidation
-- bound.
INSERT INTO cache_generations (name, generation) VALUES ('deny_list', 0);

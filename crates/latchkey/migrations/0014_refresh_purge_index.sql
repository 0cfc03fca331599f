-- Purging revoked refresh families by index rather than by scanning every
-- family: with a million live families, the scan held SQLite's write lock
-- for the length of a table scan on every purge batch (issue 17, "costs
-- flat as the database grows"). Partial: only revoked families are in it.
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;

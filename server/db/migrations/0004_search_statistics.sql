-- Up Migration

-- The planner assumes resource_type, code and value are independent; they are not (gender has
-- two values over all Patients). Without these it estimates 1,500 rows where 100,000 match
-- and picks a nested loop that takes seconds at a million resources.
CREATE STATISTICS IF NOT EXISTS sp_token_stats (dependencies, mcv) ON resource_type, code, value FROM sp_token;
CREATE STATISTICS IF NOT EXISTS sp_string_stats (dependencies, mcv) ON resource_type, code, value FROM sp_string;

-- With id last, the rows of one token come out ordered by id, matching the default sort:
-- a page of 20 among 40,000 matches reads 21 index entries instead of all of them.
CREATE INDEX IF NOT EXISTS sp_token_value_id_idx ON sp_token (resource_type, code, value, system, id);
DROP INDEX IF EXISTS sp_token_value_idx;

ANALYZE sp_token;
ANALYZE sp_string;

-- Down Migration
CREATE INDEX IF NOT EXISTS sp_token_value_idx ON sp_token (resource_type, code, value, system);
DROP INDEX IF EXISTS sp_token_value_id_idx;
DROP STATISTICS IF EXISTS sp_string_stats;
DROP STATISTICS IF EXISTS sp_token_stats;

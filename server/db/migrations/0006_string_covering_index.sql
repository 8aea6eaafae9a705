-- Up Migration

-- A string search is `id IN (SELECT id FROM sp_string WHERE resource_type, code, value LIKE 'x%')`.
-- With id in the index, PostgreSQL answers the subquery from the index alone (an index-only scan)
-- instead of visiting one heap page per matching row, which dominates when a prefix matches many
-- resources.
CREATE INDEX IF NOT EXISTS sp_string_value_id_idx ON sp_string (resource_type, code, value text_pattern_ops) INCLUDE (id);
DROP INDEX IF EXISTS sp_string_value_idx;

ANALYZE sp_string;

-- Down Migration
CREATE INDEX IF NOT EXISTS sp_string_value_idx ON sp_string (resource_type, code, value text_pattern_ops);
DROP INDEX IF EXISTS sp_string_value_id_idx;

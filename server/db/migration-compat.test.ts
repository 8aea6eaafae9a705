import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { breakingChanges, statements, upSection } from './migration-compat.ts';

const DIR = fileURLToPath(new URL('./migrations', import.meta.url));
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();

describe('shipped migrations', () => {
  test('are numbered without gaps and each has an Up and a Down section', () => {
    expect(files.length).toBeGreaterThan(10);
    files.forEach((file, i) => {
      expect(file).toMatch(new RegExp(`^${String(i + 1).padStart(4, '0')}_[a-z0-9_]+\\.sql$`));
      const sql = readFileSync(`${DIR}/${file}`, 'utf8');
      expect(sql, file).toMatch(/^-- Up Migration$/m);
      expect(sql, file).toMatch(/^-- Down Migration$/m);
    });
  });

  test.each(files)('%s only expands the schema (the previous release keeps running on it)', (file) => {
    expect(breakingChanges(readFileSync(`${DIR}/${file}`, 'utf8'))).toEqual([]);
  });
});

describe('breakingChanges', () => {
  const up = (body: string) => `-- Up Migration\n${body}\n-- Down Migration\nDROP TABLE t;\nALTER TABLE t DROP COLUMN c;\n`;

  test.each([
    ['DROP TABLE patient_cache;', 'drops a table'],
    ['ALTER TABLE resource DROP COLUMN legacy;', 'drops a column'],
    ['ALTER TABLE resource DROP legacy;', 'drops a column'],
    ['ALTER TABLE resource RENAME COLUMN a TO b;', 'renames'],
    ['ALTER TABLE resource RENAME TO resources;', 'renames'],
    ['ALTER TABLE resource ALTER COLUMN n TYPE bigint;', 'changes a column type'],
    ['ALTER TABLE resource ALTER n SET DATA TYPE bigint;', 'changes a column type'],
    ['ALTER TABLE resource ALTER COLUMN n SET NOT NULL;', 'NOT NULL'],
    ['ALTER TABLE resource ALTER COLUMN n DROP DEFAULT;', 'removes a default'],
    ['ALTER TABLE resource ADD COLUMN n text NOT NULL;', 'NOT NULL column without a default'],
    ['ALTER TABLE resource ADD COLUMN a text, ADD COLUMN n numeric(5, 2) NOT NULL;', 'NOT NULL column without a default'],
    ['DROP FUNCTION ed_fact_refresh();', 'drops a function'],
  ])('%s is reported', (sql, rule) => {
    const found = breakingChanges(up(sql));
    expect(found).toHaveLength(1);
    expect(found[0].rule).toContain(rule);
    expect(found[0].line).toBe(2);
  });

  test.each([
    'CREATE TABLE t (id uuid PRIMARY KEY, n text NOT NULL);',
    'ALTER TABLE resource ADD COLUMN n text;',
    "ALTER TABLE resource ADD COLUMN n text NOT NULL DEFAULT 'x';",
    'ALTER TABLE s ADD COLUMN ms int8 GENERATED ALWAYS AS (round(x * 1000)::int8) STORED;',
    'ALTER TABLE resource DROP CONSTRAINT resource_check;',
    'ALTER TABLE resource ALTER COLUMN n DROP NOT NULL;',
    'DROP INDEX IF EXISTS sp_string_value_idx;',
    'CREATE INDEX CONCURRENTLY i ON t (n);',
  ])('%s is compatible', (sql) => {
    expect(breakingChanges(up(sql))).toEqual([]);
  });

  test('keywords inside comments, string literals and function bodies are not statements', () => {
    const sql = up(
      [
        '-- DROP TABLE resource;',
        '/* ALTER TABLE resource DROP COLUMN id; */',
        "COMMENT ON TABLE t IS 'DROP TABLE t; it''s fine';",
        'CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN DROP TABLE x; RETURN NEW; END $fn$;',
      ].join('\n'),
    );
    expect(breakingChanges(sql)).toEqual([]);
    expect(statements(upSection(sql)).map((s) => s.line)).toEqual([4, 5]);
  });

  test('the Down section may undo anything', () => {
    expect(breakingChanges('-- Up Migration\nCREATE TABLE t (id int);\n-- Down Migration\nDROP TABLE t;\n')).toEqual([]);
  });
});

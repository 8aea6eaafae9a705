import { expect, test } from 'vitest';
import { SearchStatements } from './statements.ts';

test('one stable name per SQL shape, and none beyond the capacity', () => {
  const statements = new SearchStatements(2);
  const a = statements.nameFor('SELECT 1 WHERE x = $1');
  const b = statements.nameFor('SELECT 1 WHERE y = $1');
  expect(a).toMatch(/^search_[0-9a-f]{24}$/);
  expect(b).toMatch(/^search_[0-9a-f]{24}$/);
  expect(a).not.toBe(b);
  expect(statements.nameFor('SELECT 1 WHERE x = $1')).toBe(a);
  expect(statements.nameFor('SELECT 1 WHERE z = $1')).toBeUndefined();
  expect(statements.nameFor('SELECT 1 WHERE y = $1')).toBe(b);
});

test('searches with a LIKE pattern run unnamed: each is planned with its pattern', () => {
  const statements = new SearchStatements();
  expect(statements.nameFor("SELECT 1 WHERE s.value LIKE $1 AND s.code = 'name'")).toBeUndefined();
  expect(statements.nameFor('SELECT 1 WHERE s.value = $1')).toMatch(/^search_/);
});

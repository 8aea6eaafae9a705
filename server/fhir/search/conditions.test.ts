import { Operator, parseSearchRequest } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../definitions.ts';
import { buildFilterCondition, type ConditionContext, filterForType, SqlParams, splitSearchValues, uriAncestors } from './conditions.ts';
import { parseSearchParameter, parseSearchQuery } from './parse.ts';

beforeAll(() => {
  loadBaseDefinitions();
});

function context(strict = false): ConditionContext {
  return { params: new SqlParams(), strict, ignored: [], fhirBaseUrl: 'http://fhir.example/fhir/R4/', depth: 0 };
}

describe('splitSearchValues', () => {
  test('splits on unescaped commas and unescapes FHIR escapes', () => {
    expect(splitSearchValues('a,b')).toEqual(['a', 'b']);
    expect(splitSearchValues('a\\,b,c')).toEqual(['a,b', 'c']);
    expect(splitSearchValues('a\\|b')).toEqual(['a|b']);
    expect(splitSearchValues('a\\\\b')).toEqual(['a\\b']);
  });

  test('keeps a backslash that escapes nothing', () => {
    expect(splitSearchValues('c:\\dir')).toEqual(['c:\\dir']);
    expect(splitSearchValues('end\\')).toEqual(['end\\']);
  });

  test('drops empty alternatives unless asked to keep them', () => {
    expect(splitSearchValues('')).toEqual([]);
    expect(splitSearchValues(',a,')).toEqual(['a']);
    expect(splitSearchValues(',a,', true)).toEqual(['', 'a', '']);
  });
});

describe('uriAncestors', () => {
  test('every ancestor by path segment', () => {
    expect(uriAncestors('http://x.org/a/b').sort()).toEqual(
      ['http://x.org', 'http://x.org/', 'http://x.org/a', 'http://x.org/a/', 'http://x.org/a/b'].sort(),
    );
    expect(uriAncestors('urn:oid:1.2.3')).toEqual(['urn:oid:1.2.3']);
  });
});

describe('buildFilterCondition', () => {
  test('values only ever reach SQL as bind parameters', () => {
    const ctx = context();
    const hostile = "x' OR 1=1; --";
    for (const [code, operator] of [
      ['name', Operator.EQUALS],
      ['name', Operator.EXACT],
      ['name', Operator.CONTAINS],
      ['identifier', Operator.EQUALS],
      ['general-practitioner', Operator.EQUALS],
    ] as const) {
      const sql = buildFilterCondition(ctx, { resourceType: 'Patient', idExpr: 'r.id', rowAlias: 'r' }, { code, operator, value: hostile });
      expect(sql).not.toContain(hostile);
      expect(sql).not.toContain("'");
    }
    expect(ctx.params.values.some((v) => String(v).includes('1=1'))).toBe(true);
  });

  test('unknown parameters: strict throws naming them, lenient records them', () => {
    const target = { resourceType: 'Patient', idExpr: 'r.id', rowAlias: 'r' };
    expect(() => buildFilterCondition(context(true), target, { code: 'nonsense', operator: Operator.EQUALS, value: '1' })).toThrow(
      /nonsense/,
    );
    const lenient = context();
    expect(buildFilterCondition(lenient, target, { code: 'nonsense', operator: Operator.EQUALS, value: '1' })).toBe('TRUE');
    expect(lenient.ignored).toEqual(['nonsense']);
  });

  test('an empty value matches nothing', () => {
    const sql = buildFilterCondition(
      context(),
      { resourceType: 'Patient', idExpr: 'r.id' },
      { code: 'name', operator: Operator.EQUALS, value: ' ' },
    );
    expect(sql).toContain('FALSE');
  });
});

describe('filterForType (multi-type searches)', () => {
  test('re-reads a prefix the way the type defines the parameter', () => {
    const [filter] = parseSearchRequest('MultipleTypes?birthdate=lt1985').filters ?? [];
    expect(filterForType('Patient', filter)).toEqual({ code: 'birthdate', operator: Operator.LESS_THAN, value: '1985' });
    const [token] = parseSearchRequest('MultipleTypes?code=ap123').filters ?? [];
    expect(filterForType('Observation', token)).toEqual({ code: 'code', operator: Operator.EQUALS, value: 'ap123' });
  });
});

describe('parseSearchParameter / parseSearchQuery', () => {
  test('date OR lists are accepted, prefixes read', () => {
    expect(parseSearchParameter('Patient', 'birthdate', 'ge2020,lt2000')).toEqual({
      code: 'birthdate',
      operator: Operator.GREATER_THAN_OR_EQUALS,
      value: '2020,lt2000',
    });
    const request = parseSearchQuery('Patient', { birthdate: ['2020,2021', 'lt2030'], name: 'x', _count: '5' });
    expect(request.count).toBe(5);
    expect(request.filters).toEqual([
      { code: 'name', operator: Operator.EQUALS, value: 'x' },
      { code: 'birthdate', operator: Operator.EQUALS, value: '2020,2021' },
      { code: 'birthdate', operator: Operator.LESS_THAN, value: '2030' },
    ]);
  });

  test('a reference type modifier moves into the value; an unknown modifier is refused', () => {
    expect(parseSearchParameter('Observation', 'subject:Patient', '123,Group/9')).toEqual({
      code: 'subject',
      operator: Operator.EQUALS,
      value: 'Patient/123,Group/9',
    });
    expect(() => parseSearchParameter('Patient', 'name:sounds-like', 'x')).toThrow(/sounds-like/);
    expect(() => parseSearchQuery('Patient', { 'gender:bogus': 'x' })).toThrow(/bogus/);
    expect(parseSearchParameter('Patient', 'name:exact', 'X')).toEqual({ code: 'name', operator: Operator.EXACT, value: 'X' });
  });

  test('core errors name the parameter', () => {
    expect(() => parseSearchParameter('Patient', '_include', '*')).toThrow(/_include/);
  });
});

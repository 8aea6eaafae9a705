import { OperationOutcomeError, Operator } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../definitions.ts';
import { filterParameterCondition } from './filter.ts';

beforeAll(() => loadBaseDefinitions());

/** Renders each comparison as the filter it became, to check the translation without SQL. */
const render = (resourceType: string, value: string) =>
  filterParameterCondition(resourceType, value, (f) => `${f.code}:${f.operator}:${f.value}`);

describe('_filter translation', () => {
  test('operators become the equivalent search parameter', () => {
    expect(render('Patient', 'family eq Smith')).toBe(`(family:${Operator.EXACT}:Smith)`);
    expect(render('Patient', 'family sw sm')).toBe(`(family:${Operator.EQUALS}:sm)`);
    expect(render('Patient', 'family co mit')).toBe(`(family:${Operator.CONTAINS}:mit)`);
    expect(render('Patient', 'birthdate ge 2020-01-01')).toBe('(birthdate:ge:2020-01-01)');
    expect(render('Patient', 'birthdate ne 2020-01-01')).toBe('(birthdate:ne:2020-01-01)');
    expect(render('Patient', 'gender ne male')).toBe(`NOT (gender:${Operator.EQUALS}:male)`);
    expect(render('Patient', 'birthdate pr true')).toBe(`(birthdate:${Operator.MISSING}:false)`);
  });

  test('and, or, not and parentheses keep their structure', () => {
    expect(render('Patient', 'not (gender eq male) and (family eq A or family eq B)')).toBe(
      `(NOT ((gender:${Operator.EQUALS}:male)) AND ((family:exact:A) OR (family:exact:B)))`,
    );
  });

  test('unknown parameters and operators on the wrong type are errors, never ignored terms', () => {
    for (const bad of ['bogus eq 1 or family eq A', 'gender co ma', 'family gt a', 'family ew a', 'subject.name eq x']) {
      expect(() => render('Patient', bad), bad).toThrow(OperationOutcomeError);
    }
  });
});

import { OperationOutcomeError } from '@medplum/core';
import type { CodeSystem, ValueSet } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { collect, expandValueSet, matchesFilter, type TerminologyResolver } from './expansion.ts';

const SYSTEM = 'urn:test:acuity';
const cs: CodeSystem = {
  resourceType: 'CodeSystem',
  url: SYSTEM,
  status: 'active',
  content: 'complete',
  concept: [
    {
      code: 'urgent',
      display: 'Urgent',
      concept: [
        { code: 'very-urgent', display: 'Very urgent' },
        { code: 'urgent-ish', display: 'Somewhat urgent' },
      ],
    },
    { code: 'routine', display: 'Routine' },
  ],
};

function resolver(valueSets: ValueSet[] = []): TerminologyResolver {
  return {
    valueSet: async (url) => valueSets.find((v) => v.url === url),
    codeSystem: async (url) => (url === SYSTEM ? cs : undefined),
  };
}

const vs = (compose: ValueSet['compose'], url = 'urn:test:vs'): ValueSet => ({ resourceType: 'ValueSet', url, status: 'active', compose });

describe('collect', () => {
  test('a whole code system, hierarchy flattened in order', async () => {
    const codes = await collect(vs({ include: [{ system: SYSTEM }] }), resolver());
    expect(codes.map((c) => c.code)).toEqual(['urgent', 'very-urgent', 'urgent-ish', 'routine']);
  });

  test('is-a and descendent-of filters, excludes', async () => {
    const isA = await collect(
      vs({ include: [{ system: SYSTEM, filter: [{ property: 'concept', op: 'is-a', value: 'urgent' }] }] }),
      resolver(),
    );
    expect(isA.map((c) => c.code)).toEqual(['urgent', 'very-urgent', 'urgent-ish']);
    const below = await collect(
      vs({
        include: [{ system: SYSTEM, filter: [{ property: 'concept', op: 'descendent-of', value: 'urgent' }] }],
        exclude: [{ system: SYSTEM, concept: [{ code: 'urgent-ish' }] }],
      }),
      resolver(),
    );
    expect(below.map((c) => c.code)).toEqual(['very-urgent']);
  });

  test('listed concepts take displays from the code system unless given; nested value sets intersect with the system part', async () => {
    const inner = vs({ include: [{ system: SYSTEM, concept: [{ code: 'routine' }, { code: 'urgent' }] }] }, 'urn:test:inner');
    const codes = await collect(
      vs({
        include: [
          { system: SYSTEM, concept: [{ code: 'urgent' }, { code: 'very-urgent', display: 'Now!' }], valueSet: ['urn:test:inner'] },
        ],
      }),
      resolver([inner]),
    );
    expect(codes).toEqual([{ system: SYSTEM, code: 'urgent', display: 'Urgent' }]);
  });

  test('unknown code system, unknown nested set, self-inclusion and unsupported filters are 400s', async () => {
    const self = vs({ include: [{ valueSet: ['urn:test:self'] }] }, 'urn:test:self');
    for (const bad of [
      vs({ include: [{ system: 'urn:unknown' }] }),
      vs({ include: [{ valueSet: ['urn:test:missing'] }] }),
      self,
      vs({ include: [{ system: SYSTEM, filter: [{ property: 'concept', op: 'regex', value: '.*' }] }] }),
    ]) {
      await expect(collect(bad, resolver([self]))).rejects.toBeInstanceOf(OperationOutcomeError);
    }
  });
});

describe('expandValueSet', () => {
  test('filter, total and paging', async () => {
    const expanded = await expandValueSet(vs({ include: [{ system: SYSTEM }] }), resolver(), { filter: 'urgent', offset: 1, count: 1 });
    expect(expanded.expansion?.total).toBe(3);
    expect(expanded.expansion?.contains?.map((c) => c.code)).toEqual(['very-urgent']);
    expect(expanded.compose).toBeUndefined();
  });

  test('matchesFilter: every word, display or code, case-insensitive', () => {
    expect(matchesFilter({ code: 'urgent-ish', display: 'Somewhat urgent' }, 'SOME urg')).toBe(true);
    expect(matchesFilter({ code: 'routine', display: 'Routine' }, 'rout x')).toBe(false);
    expect(matchesFilter({ code: 'ish-code' }, 'ish')).toBe(true);
    expect(matchesFilter({ code: 'a' }, '  ')).toBe(true);
  });
});

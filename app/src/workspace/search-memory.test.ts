import { type Filter, Operator, type SearchRequest } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { completeSearch, defaultFields, type KeyValueStore, searchMemory } from './search-memory.ts';

function memoryStore(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

const byName: Filter = { code: 'name', operator: Operator.CONTAINS, value: 'riv' };

describe('searchMemory', () => {
  test('remembers the last search and type per user', () => {
    const store = memoryStore();
    const ana = searchMemory(store, 'Practitioner/ana');
    const ben = searchMemory(store, 'Practitioner/ben');
    const search: SearchRequest = { resourceType: 'Patient', filters: [byName], fields: ['id', 'name'] };
    expect(ana.last('Patient')).toBeUndefined();
    ana.remember(search);
    expect(ana.last('Patient')).toEqual(search);
    expect(ana.lastType()).toBe('Patient');
    expect(ben.last('Patient')).toBeUndefined();
    expect(ben.lastType()).toBeUndefined();
    expect(ana.last('Observation')).toBeUndefined();
  });

  test('ignores a corrupt or mismatched entry instead of throwing', () => {
    const store = memoryStore();
    const memory = searchMemory(store, 'u');
    memory.remember({ resourceType: 'Patient' });
    const key = [...store.data.keys()].find((k) => k.endsWith('.Patient')) as string;
    store.data.set(key, '{not json');
    expect(memory.last('Patient')).toBeUndefined();
    store.data.set(key, JSON.stringify({ resourceType: 'Observation' }));
    expect(memory.last('Patient')).toBeUndefined();
  });
});

describe('completeSearch', () => {
  test('a first visit gets default columns, newest first, first page', () => {
    expect(completeSearch({ resourceType: 'Patient' }, undefined, true)).toEqual({
      resourceType: 'Patient',
      fields: defaultFields('Patient'),
      sortRules: [{ code: '_lastUpdated', descending: true }],
      offset: 0,
      count: 20,
    });
  });

  test('a bare URL reopens the remembered search, filters included', () => {
    const remembered: SearchRequest = {
      resourceType: 'Patient',
      filters: [byName],
      fields: ['id', 'name', 'telecom'],
      sortRules: [{ code: 'name' }],
      offset: 20,
      count: 50,
    };
    expect(completeSearch({ resourceType: 'Patient' }, remembered, true)).toEqual(remembered);
  });

  test('a URL with its own filters keeps them and takes only the remembered columns and sort', () => {
    const remembered: SearchRequest = {
      resourceType: 'Patient',
      filters: [byName],
      fields: ['id', 'telecom'],
      sortRules: [{ code: 'name' }],
    };
    const gender: Filter = { code: 'gender', operator: Operator.EQUALS, value: 'female' };
    const result = completeSearch({ resourceType: 'Patient', filters: [gender] }, remembered, false);
    expect(result.filters).toEqual([gender]);
    expect(result.fields).toEqual(['id', 'telecom']);
    expect(result.sortRules).toEqual([{ code: 'name' }]);
    const own = completeSearch(
      { resourceType: 'Patient', fields: ['id', 'gender'], sortRules: [{ code: 'birthdate', descending: true }] },
      remembered,
      false,
    );
    expect(own.fields).toEqual(['id', 'gender']);
    expect(own.sortRules).toEqual([{ code: 'birthdate', descending: true }]);
  });
});

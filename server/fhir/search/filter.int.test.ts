import type { Communication, Encounter, Observation, Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { fetchJson, outcomeText, SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'filter');
  await k.create<Patient>('ann', {
    resourceType: 'Patient',
    gender: 'female',
    birthDate: '1980-05-01',
    name: [{ family: 'Smith', given: ['Ann'] }],
  });
  await k.create<Patient>('bob', {
    resourceType: 'Patient',
    gender: 'male',
    birthDate: '2001-02-03',
    name: [{ family: 'Smithers', given: ['Bob'] }],
  });
  await k.create<Patient>('cy', { resourceType: 'Patient', name: [{ family: 'Jones', given: ['Cy'] }] });
  const ann = k.ref('ann');
  await k.create<Observation>('obs-ann', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'hr' },
    subject: { reference: ann },
    valueQuantity: { value: 80 },
  });
  await k.create<Observation>('obs-bob', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'hr' },
    subject: { reference: k.ref('bob') },
    valueQuantity: { value: 120 },
  });
  await k.create<Communication>('msg-ann-subject', { resourceType: 'Communication', status: 'completed', subject: { reference: ann } });
  await k.create<Communication>('msg-ann-recipient', {
    resourceType: 'Communication',
    status: 'completed',
    recipient: [{ reference: ann }],
  });
  await k.create<Communication>('msg-bob', { resourceType: 'Communication', status: 'in-progress', subject: { reference: k.ref('bob') } });
});
afterAll(async () => t?.close());

describe('_filter', () => {
  test('timeline query: (subject eq X) or (recipient eq X), as the stock timelines send it', async () => {
    const ann = k.ref('ann');
    expect(await k.labels('Communication', { _filter: `(subject eq ${ann}) or (recipient eq ${ann})` })).toEqual([
      'msg-ann-recipient',
      'msg-ann-subject',
    ]);
  });

  test("the stock ResourceTimeline's Task query: based-on, focus or subject", async () => {
    const enc = await k.create<Encounter>('enc', { resourceType: 'Encounter', status: 'in-progress', class: { code: 'EMER' } });
    const ref = `Encounter/${enc.id}`;
    await k.create<Task>('task-focus', { resourceType: 'Task', status: 'ready', intent: 'order', focus: { reference: ref } });
    await k.create<Task>('task-based-on', { resourceType: 'Task', status: 'ready', intent: 'order', basedOn: [{ reference: ref }] });
    await k.create<Task>('task-other', { resourceType: 'Task', status: 'ready', intent: 'order', focus: { reference: k.ref('ann') } });
    expect(await k.labels('Task', { _filter: `based-on eq ${ref} or focus eq ${ref} or subject eq ${ref}` })).toEqual([
      'task-based-on',
      'task-focus',
    ]);
  });

  test('eq, ne, co, sw on strings and tokens', async () => {
    expect(await k.labels('Patient', { _filter: 'family eq Smith' })).toEqual(['ann']);
    expect(await k.labels('Patient', { _filter: 'family sw smith' })).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', { _filter: 'name co "mithe"' })).toEqual(['bob']);
    expect(await k.labels('Patient', { _filter: 'gender ne male' })).toEqual(['ann', 'cy']);
  });

  test('gt/lt/ge/le on dates and quantities', async () => {
    expect(await k.labels('Patient', { _filter: 'birthdate gt 1990-01-01' })).toEqual(['bob']);
    expect(await k.labels('Patient', { _filter: 'birthdate le 1990-01-01' })).toEqual(['ann']);
    expect(await k.labels('Observation', { _filter: 'value-quantity ge 100' })).toEqual(['obs-bob']);
    expect(await k.labels('Observation', { _filter: 'value-quantity lt 100' })).toEqual(['obs-ann']);
  });

  test('pr, and, or, not, parentheses', async () => {
    expect(await k.labels('Patient', { _filter: 'birthdate pr false' })).toEqual(['cy']);
    expect(await k.labels('Patient', { _filter: 'birthdate pr true and gender eq female' })).toEqual(['ann']);
    expect(await k.labels('Patient', { _filter: 'not (family sw smith)' })).toEqual(['cy']);
    expect(await k.labels('Patient', { _filter: '(gender eq male or family eq Jones) and not (given eq Cy)' })).toEqual(['bob']);
  });

  test('combines with ordinary parameters and keeps paging', async () => {
    const bundle = await k.search('Communication', {
      _filter: `subject eq ${k.ref('ann')} or subject eq ${k.ref('bob')}`,
      status: 'in-progress',
    });
    expect(k.matchLabels(bundle)).toEqual(['msg-bob']);
    const page = await k.search('Patient', { _filter: 'family sw smith', _count: '1', _sort: 'birthdate' });
    expect(k.matchLabels(page)).toEqual(['ann']);
    expect(page.link?.find((l) => l.relation === 'next')?.url).toContain('_filter=');
  });

  test('bad _filter → 400 naming _filter', async () => {
    for (const bad of [
      'name xx Smith',
      '(name eq Smith',
      'gender co mal',
      'birthdate pr maybe',
      'bogus eq 1 or family eq Smith',
      'family ew th',
    ]) {
      const res = await fetchJson(`${t.fhirUrl}Patient?_filter=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(outcomeText(res.body), bad).toContain('_filter');
    }
  });
});

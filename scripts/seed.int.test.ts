import { resolve } from 'node:path';
import type { ChargeItemDefinition, Schedule, Slot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/server.ts';
import { seed } from './seed.ts';

const DIR = resolve(import.meta.dirname, '../seed');
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

test('npm run seed loads the catalog, clinics and slots, and a second run changes nothing', async () => {
  // 2025-03-03 is a Monday: a working week for every clinic.
  const first = await seed(t.medplum, { dir: DIR, from: '2025-03-03', days: 7 });
  expect(first.slotsCreated).toBeGreaterThan(200);
  const catalog = await t.medplum.searchResources('ChargeItemDefinition', { _count: '100' });
  expect(catalog.map((d: ChargeItemDefinition) => d.code?.coding?.[0].code)).toEqual(
    expect.arrayContaining(['99281', '99282', '99283', '99284', '99285', '71046', '84484', 'A4570']),
  );
  const lee = (await t.medplum.searchOne('Schedule', { identifier: 'https://emergisphere.dev/fhir/seed|dr-lee-schedule' })) as Schedule;
  const leeSlots: Slot[] = await t.medplum.searchResources('Slot', { schedule: `Schedule/${lee.id}`, _count: '500', _sort: 'start' });
  // Dr. Lee (20-minute slots, Mon–Fri 08–12 and 13–17 Pacific) loses Wednesday 15–17 to the cath lab.
  expect(leeSlots).toHaveLength(5 * 24 - 6);
  expect(leeSlots[0].start).toBe('2025-03-03T16:00:00.000Z');
  expect(leeSlots.every((s) => s.specialty?.[0].coding?.[0].code === '394579002')).toBe(true);

  const second = await seed(t.medplum, { dir: DIR, from: '2025-03-03', days: 7 });
  expect(second.slotsCreated).toBe(0);
  expect(second.slotsExisting).toBe(first.slotsCreated);
  expect(await t.medplum.searchResources('ChargeItemDefinition', { _count: '100' })).toHaveLength(catalog.length);
});

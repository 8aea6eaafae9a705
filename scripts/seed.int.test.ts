import { resolve } from 'node:path';
import type { AllergyIntolerance, ChargeItemDefinition, Device, Patient, Schedule, Slot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/server.ts';
import { seed } from './seed.ts';
import { MRN_SYSTEM, SYNTHETIC_SYSTEM } from './seed-patients.ts';

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
  const first = await seed(t.medplum, { dir: DIR, from: '2025-03-03', days: 7, patients: 60, patientSeed: 7 });
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

  const patients: Patient[] = await t.medplum.searchResources('Patient', { identifier: `${MRN_SYSTEM}|`, _count: '200' });
  expect(patients).toHaveLength(60);
  expect(first.syntheticCreated).toBeGreaterThan(200);
  const allergies: AllergyIntolerance[] = await t.medplum.searchResources('AllergyIntolerance', { _count: '200' });
  expect(allergies.length).toBeGreaterThan(0);
  expect(allergies.every((a) => a.criticality && a.patient?.reference?.startsWith('Patient/'))).toBe(true);
  const seven = await t.medplum.searchOne('Patient', { identifier: `${SYNTHETIC_SYSTEM}|7-0-patient` });
  const devices: Device[] = await t.medplum.searchResources('Device', { _count: '100' });
  expect(devices.length).toBeGreaterThanOrEqual(6);
  expect(devices.filter((d) => d.patient?.reference === `Patient/${seven?.id}`)).toHaveLength(1);

  const second = await seed(t.medplum, { dir: DIR, from: '2025-03-03', days: 7, patients: 60, patientSeed: 7 });
  expect(second.syntheticCreated).toBe(0);
  expect(second.syntheticExisting).toBe(first.syntheticCreated);
  expect(await t.medplum.searchResources('Patient', { identifier: `${MRN_SYSTEM}|`, _count: '200' })).toHaveLength(60);
  expect(second.slotsCreated).toBe(0);
  expect(second.slotsExisting).toBe(first.slotsCreated);
  expect(await t.medplum.searchResources('ChargeItemDefinition', { _count: '100' })).toHaveLength(catalog.length);
  // Two full seed runs (about 1,500 resources written or compared): ~17 s on a quiet 2-core machine.
}, 90_000);

import type { AllergyIntolerance, Patient } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { MRN_SYSTEM, SYNTHETIC_SYSTEM, seedDevices, syntheticBundles, syntheticPatient } from './seed-patients.ts';

test('the same seed yields the same patients; another seed yields others', () => {
  expect(syntheticPatient(42, 7)).toEqual(syntheticPatient(42, 7));
  expect(syntheticBundles({ seed: 42, count: 30 })).toEqual(syntheticBundles({ seed: 42, count: 30 }));
  const a = syntheticPatient(42, 7)[0].resource as Patient;
  const b = syntheticPatient(43, 7)[0].resource as Patient;
  expect(a.identifier?.[0].value).toBe('42-7-patient');
  expect(b.identifier?.[0].value).toBe('43-7-patient');
  expect(a.identifier?.[1]).toMatchObject({ system: MRN_SYSTEM, type: { coding: [{ code: 'MR' }] } });
});

test('patients have realistic demographics and histories, every resource a conditional create', () => {
  const entries = syntheticBundles({ seed: 1, count: 300 }).flatMap((b) => b.entry ?? []);
  const patients = entries.map((e) => e.resource).filter((r): r is Patient => r?.resourceType === 'Patient');
  expect(patients).toHaveLength(300);
  expect(new Set(patients.map((p) => p.identifier?.[1].value)).size).toBe(300);
  for (const p of patients) {
    expect(p.name?.[0].family).toMatch(/^[A-Z]/);
    expect(p.birthDate).toMatch(/^(19|20)\d\d-\d\d-\d\d$/);
    expect(p.address?.[0].postalCode).toMatch(/^\d{5}$/);
  }
  const types = new Set(entries.map((e) => e.resource?.resourceType));
  for (const t of [
    'Condition',
    'AllergyIntolerance',
    'MedicationStatement',
    'MedicationRequest',
    'Encounter',
    'Immunization',
    'Observation',
  ]) {
    expect(types).toContain(t);
  }
  const allergies = entries.map((e) => e.resource).filter((r): r is AllergyIntolerance => r?.resourceType === 'AllergyIntolerance');
  expect(new Set(allergies.map((a) => a.criticality))).toEqual(new Set(['high', 'low']));
  const ids = entries.map((e) => (e.resource as { identifier?: { system?: string; value?: string }[] }).identifier?.[0]);
  expect(ids.every((id) => id?.system === SYNTHETIC_SYSTEM)).toBe(true);
  expect(new Set(ids.map((id) => id?.value)).size).toBe(entries.length);
  // No emergency encounters in the history: an EMER create starts the live ED workflow.
  expect(
    entries
      .filter((e) => e.resource?.resourceType === 'Encounter')
      .every((e) => (e.resource as { class?: { code?: string } }).class?.code !== 'EMER'),
  ).toBe(true);
});

test('a subset of patients can be generated, 25 per transaction', () => {
  const bundles = syntheticBundles({ seed: 42, count: 60 }, (i) => i % 2 === 0);
  expect(bundles.map((b) => b.entry?.filter((e) => e.resource?.resourceType === 'Patient').length)).toEqual([25, 5]);
  expect(bundles[0].entry?.[0].resource).toEqual(syntheticPatient(42, 0)[0].resource);
});

test('devices are owned by the hospital, the first ones linked to patients', () => {
  const devices = seedDevices(42, { reference: 'Organization/h' }, 3);
  expect(devices.length).toBeGreaterThanOrEqual(6);
  expect(devices.every((d) => (d.resource as { owner?: { reference?: string } }).owner?.reference === 'Organization/h')).toBe(true);
  expect(devices.filter((d) => (d.resource as { patient?: unknown }).patient)).toHaveLength(3);
});

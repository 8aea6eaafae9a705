import type { Location } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { chooseBed } from './beds.ts';
import { BED_ZONE_SYSTEM } from './codes.ts';

const bed = (id: string, zone: string, status = 'U', active: Location['status'] = 'active'): Location => ({
  resourceType: 'Location',
  id,
  name: id,
  status: active,
  physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'bd' }] },
  type: [{ coding: [{ system: BED_ZONE_SYSTEM, code: zone }] }],
  operationalStatus: { system: 'http://terminology.hl7.org/CodeSystem/v2-0116', code: status },
});

const beds = [
  bed('R1', 'resus', 'O'),
  bed('R2', 'resus'),
  bed('A2', 'acute'),
  bed('A10', 'acute'),
  bed('F1', 'fast-track'),
  bed('F2', 'fast-track', 'U', 'inactive'),
];

test('acuity picks the zone; the first free bed by name', () => {
  expect(chooseBed(beds, 1).bed?.id).toBe('R2');
  expect(chooseBed(beds, 3).bed?.id).toBe('A2');
  expect(chooseBed(beds, 5).bed?.id).toBe('F1');
});

test('overflow to the next zone, never to fast track for the sick; occupied and inactive beds are skipped', () => {
  expect(chooseBed(beds, 2, new Set(['R2'])).bed?.id).toBe('A2');
  expect(chooseBed(beds, 4, new Set(['F1'])).reason).toContain('no free fast-track bed');
  expect(chooseBed([bed('F1', 'fast-track')], 1).bed).toBeUndefined();
  expect(chooseBed([bed('F1', 'fast-track')], 1).reason).toContain('no free resus or acute bed');
});

test('no acuity yet: treated as ESI 3', () => {
  expect(chooseBed(beds, undefined).reason).toContain('no acuity yet');
  expect(chooseBed(beds, undefined).bed?.id).toBe('A2');
});

test("a bed without a zone takes its area's (type or name, as the seed has them)", () => {
  const plain = (id: string, area: string): Location => ({ ...bed(id, 'x', 'U'), type: undefined, partOf: { reference: area } });
  const areas = new Map<string, Location>([
    ['Location/r', { resourceType: 'Location', name: 'ED Resuscitation', identifier: [{ value: 'ed-resus' }] }],
    ['Location/f', { resourceType: 'Location', name: 'ED Fast track' }],
    ['Location/a', { resourceType: 'Location', name: 'ED Acute care' }],
  ]);
  const seeded = [plain('Acute 1', 'Location/a'), plain('Fast 1', 'Location/f'), plain('Resuscitation 1', 'Location/r')];
  expect(chooseBed(seeded, 1, new Set(), areas).bed?.id).toBe('Resuscitation 1');
  expect(chooseBed(seeded, 5, new Set(), areas).bed?.id).toBe('Fast 1');
  expect(chooseBed(seeded, 3, new Set(), areas).bed?.id).toBe('Acute 1');
});

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

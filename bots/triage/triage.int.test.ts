/**
 * Triage through the real server: an EMER Encounter is created → the workflow bot starts the
 * emergency workflow → the triage Task becomes ready → the triage bot (its own Subscription and
 * role) writes ESI, NEWS2, qSOFA, the RiskAssessment, the priority and a page; the communication
 * bot turns the page into a Communication to the on-call physician.
 */
import { resolve } from 'node:path';
import type { WithId } from '@medplum/core';
import type {
  Bundle,
  CareTeam,
  Communication,
  Encounter,
  Observation,
  Patient,
  Practitioner,
  RiskAssessment,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { waitFor } from '../../test/workflow-agents.ts';
import { ES, STEP_CODES, stepOf } from '../lib/workflow.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOINC = 'http://loinc.org';
const HOUR = 3_600_000;
let t: TestServer;
let physician: WithId<Practitioner>;

function vital(code: string, value: number, unit: string, ucum: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' },
    encounter: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: ucum },
  };
}

/** A patient, an EMER encounter and its first vital signs in one transaction, as the app's arrival form sends them. */
async function arrive(complaint: string, birthDate: string, vitals: Observation[]): Promise<{ patient: Patient; encounter: Encounter }> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
        resource: { resourceType: 'Patient', name: [{ family: 'Moreau', given: ['Luc'] }], gender: 'male', birthDate },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
        resource: {
          resourceType: 'Encounter',
          status: 'arrived',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
          subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' },
          period: { start: new Date().toISOString() },
          reasonCode: [{ text: complaint }],
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      ...vitals.map((resource) => ({ resource, request: { method: 'POST' as const, url: 'Observation' } })),
    ],
  };
  const result = await t.medplum.executeBatch(bundle);
  const [patientRef, encounterRef] = (result.entry ?? []).map((e) => e.response?.location?.split('/_history')[0] as string);
  return {
    patient: (await t.medplum.readReference({ reference: patientRef } as { reference: string })) as Patient,
    encounter: (await t.medplum.readReference({ reference: encounterRef } as { reference: string })) as Encounter,
  };
}

async function esiOf(encounter: Encounter): Promise<Observation> {
  return waitFor(
    async () => {
      const found = await t.medplum.searchResources(
        'Observation',
        { encounter: `Encounter/${encounter.id}`, code: `${LOINC}|75636-1` },
        { cache: 'no-cache' },
      );
      return found[0];
    },
    30_000,
    'the ESI Observation',
  );
}

beforeAll(async () => {
  t = await startTestServer();
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'triage', 'communication'] });
  physician = await t.medplum.createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ family: 'Bailey', given: ['Miranda'] }],
  });
  await t.medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    status: 'active',
    name: 'ED physicians on call',
    identifier: [{ system: `${ES}/on-call`, value: 'ed-physician' }],
    participant: [
      {
        member: { reference: `Practitioner/${physician.id}` },
        period: { start: new Date(Date.now() - HOUR).toISOString(), end: new Date(Date.now() + 8 * HOUR).toISOString() },
      },
    ],
  });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('the emergency path, end to end', () => {
  test('chest pain with danger-zone vitals: ESI 2 with its rationale, every step as a Task, a staff page', async () => {
    const started = Date.now();
    const { encounter } = await arrive('ant. chest pain radiating to L arm, diaphoretic', '1968-03-14', [
      vital('8867-4', 128, '/min', '/min'),
      vital('9279-1', 24, '/min', '/min'),
      vital('59408-5', 93, '%', '%'),
      vital('8480-6', 148, 'mmHg', 'mm[Hg]'),
      vital('8310-5', 37.1, 'Cel', 'Cel'),
    ]);
    const esi = await esiOf(encounter);
    expect(esi.valueCodeableConcept?.coding?.find((c) => c.system === `${ES}/CodeSystem/esi`)?.code).toBe('2');
    expect(esi.method?.coding?.[0]?.code).toBe('rules');
    const rationale = esi.note?.[0]?.text ?? '';
    expect(rationale).toMatch(/ESI 2/);
    expect(rationale).toMatch(/chest pain/i);
    expect(esi.component?.length).toBeGreaterThan(0);
    expect(esi.derivedFrom?.length).toBeGreaterThanOrEqual(4);

    const after = await waitFor(async () => {
      const e = await t.medplum.readResource('Encounter', encounter.id as string);
      return e.priority ? e : undefined;
    });
    expect(after.priority?.coding?.[0]).toMatchObject({ system: `${ES}/CodeSystem/esi`, code: '2' });
    expect(after.status).toBe('triaged');

    const news2 = await t.medplum.searchResources('Observation', {
      encounter: `Encounter/${encounter.id}`,
      code: `${ES}/CodeSystem/observation-code|news2`,
    });
    expect(news2[0].valueInteger).toBeGreaterThanOrEqual(5);
    const risk = (await t.medplum.searchResources('RiskAssessment', { encounter: `Encounter/${encounter.id}` }))[0] as RiskAssessment;
    expect(risk.basis?.map((b) => b.reference)).toContain(`Observation/${esi.id}`);

    const tasks = await waitFor(async () => {
      const found = (await t.medplum.searchResources('Task', { encounter: `Encounter/${encounter.id}` }, { cache: 'no-cache' })) as Task[];
      return found.length === STEP_CODES.length && found.find((x) => stepOf(x) === 'triage')?.status === 'completed' ? found : undefined;
    });
    expect(tasks.map((x) => stepOf(x)).sort()).toEqual([...STEP_CODES].sort());
    const triageTask = tasks.find((x) => stepOf(x) === 'triage') as Task;
    expect(triageTask.output?.find((o) => o.type?.text === 'ESI Observation')?.valueReference?.reference).toBe(`Observation/${esi.id}`);
    expect(triageTask.output?.find((o) => o.type?.text === 'rationale')?.valueString).toMatch(/ESI 2/);

    const page = await waitFor(
      async () => {
        const found = (await t.medplum.searchResources(
          'Communication',
          { recipient: `Practitioner/${physician.id}` },
          { cache: 'no-cache' },
        )) as Communication[];
        return found.find((c) => c.encounter?.reference === `Encounter/${encounter.id}`);
      },
      30_000,
      'the page to the on-call physician',
    );
    expect(page.payload?.[0]?.contentString).toMatch(/ESI 2/);
    expect(page.payload?.[0]?.contentString).toMatch(/HR 128/);
    // "Within seconds": the whole path, from the arrival's commit to the page on the physician's screen.
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  test('a minor complaint with normal vitals is not paged; missing vitals never lower acuity', async () => {
    const { encounter } = await arrive('sprained ankle, twisted playing football', '1995-06-01', [vital('8867-4', 78, '/min', '/min')]);
    const esi = await esiOf(encounter);
    const level = Number(esi.valueCodeableConcept?.coding?.find((c) => c.system === `${ES}/CodeSystem/esi`)?.code);
    expect(level).toBeGreaterThanOrEqual(4);
    expect(esi.note?.[0]?.text).toMatch(/not measured/i);
    const requests = await t.medplum.searchResources(
      'CommunicationRequest',
      { encounter: `Encounter/${encounter.id}` },
      { cache: 'no-cache' },
    );
    expect(requests).toHaveLength(0);
  }, 60_000);
});

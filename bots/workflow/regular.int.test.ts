/**
 * The `regular` appointment workflow end to end through the real server, with every agent of the
 * plan that exists in this repository deployed for real (admission is built elsewhere: when it is
 * missing its step fails at once with "No agent is deployed" and the rest goes on). An appointment
 * request — an ambulatory Encounter created `planned` with a ServiceRequest naming the specialty —
 * starts the workflow; at the end the request is booked (Appointment, slot busy), the patient got
 * the confirmation (a Communication) and billing wrote its estimate.
 */
import { resolve } from 'node:path';
import type { WithId } from '@medplum/core';
import type {
  Appointment,
  Communication,
  CommunicationRequest,
  Invoice,
  Patient,
  PlanDefinition,
  RequestGroup,
  Slot,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deployBots, readBotConfig } from '../../scripts/deploy-bots.ts';
import { seed } from '../../scripts/seed.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createEncounterWith, waitFor } from '../../test/workflow-agents.ts';
import { ENDED_STATUSES, stepOf } from '../lib/workflow.ts';
import { planSteps } from './plan.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PLAN = (await import('../../fhir-profiles/workflows/regular.json', { with: { type: 'json' } })).default as PlanDefinition;
const STEPS = planSteps(PLAN);
/** The plan's agents that this checkout has (and so deploys). */
const AVAILABLE = new Set(readBotConfig(ROOT).map((b) => b.name));
const DEPLOYED = STEPS.filter((s) => s.agent?.value && AVAILABLE.has(s.agent.value)).map((s) => s.agent?.value as string);

let t: TestServer;
let patient: WithId<Patient>;

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  await seed(t.medplum, { dir: resolve(ROOT, 'seed'), days: 10 });
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', ...DEPLOYED] });
  patient = await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Okonkwo', given: ['Ada'] }],
    gender: 'female',
    birthDate: '1961-09-30',
    telecom: [{ system: 'email', value: 'ada@example.org' }],
  });
}, 300_000);

afterAll(async () => {
  await t?.close();
});

test('an appointment request runs admission → triage → records → devices → billing → scheduling → communication', async () => {
  const m = t.medplum;
  expect(DEPLOYED).toEqual(expect.arrayContaining(['triage', 'medical-records', 'smart-device', 'billing', 'scheduling', 'communication']));
  const { encounterId, resourceId: requestId } = await createEncounterWith(
    m,
    {
      resourceType: 'Encounter',
      status: 'planned',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ text: 'palpitations on exertion, referred by GP' }],
    },
    {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      priority: 'routine',
      code: { text: 'Cardiology consultation' },
      performerType: { coding: [{ system: 'http://snomed.info/sct', code: '394579002', display: 'Cardiology' }], text: 'Cardiology' },
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ text: 'palpitations on exertion' }],
    },
  );
  const enc = `Encounter/${encounterId}`;

  // The whole workflow ends (every step completed or failed).
  const group = await waitFor(
    async () => {
      const g = await m.searchOne('RequestGroup', { encounter: enc }, { cache: 'no-cache' });
      return g?.status === 'completed' ? (g as WithId<RequestGroup>) : undefined;
    },
    180_000,
    'the regular workflow to complete',
  );
  expect(group.instantiatesCanonical).toEqual(['https://emergisphere.dev/fhir/PlanDefinition/regular']);
  const tasks: Task[] = await m.searchResources('Task', { 'based-on': `RequestGroup/${group.id}` }, { cache: 'no-cache' });
  const byStep = new Map(tasks.map((task) => [stepOf(task), task]));
  expect([...byStep.keys()].sort()).toEqual(STEPS.map((s) => s.code).sort());
  const rationale = (step: string) => byStep.get(step)?.output?.find((o) => o.type?.text === 'rationale')?.valueString ?? '';

  // Every deployed agent did its step; a missing one failed at once and did not stop the rest.
  for (const step of STEPS) {
    const task = byStep.get(step.code) as Task;
    if (DEPLOYED.includes(step.agent?.value as string)) {
      expect(task.status, `${step.code}: ${task.statusReason?.text ?? ''}`).toBe('completed');
      expect(rationale(step.code), `${step.code} records why it did what it did`).not.toBe('');
    } else {
      expect(task.status).toBe('failed');
      expect(task.statusReason?.text).toContain('No agent is deployed');
    }
  }
  // Order: each step started only after the steps it depends on had ended.
  for (const step of STEPS) {
    const started = byStep.get(step.code)?.executionPeriod?.start as string;
    for (const dep of step.after) {
      const depTask = tasks.find((x) => stepOf(x) === STEPS.find((s) => s.id === dep)?.code) as Task;
      expect(ENDED_STATUSES.has(depTask.status)).toBe(true);
      expect(Date.parse(depTask.executionPeriod?.end as string)).toBeLessThanOrEqual(Date.parse(started));
    }
  }

  // Triage assessed the visit and recorded its rationale; medical records wrote the summary.
  expect(rationale('triage')).not.toBe('');
  const composition = await m.searchOne('Composition', { encounter: enc }, { cache: 'no-cache' });
  expect(composition).toBeDefined();

  // Billing: the estimate (draft Invoice) with the clinic visit charge; not an emergency, so no EMTALA gate.
  const estimate = (await m.searchOne(
    'Invoice',
    { identifier: `https://emergisphere.dev/fhir/invoice|${encounterId}/estimate` },
    { cache: 'no-cache' },
  )) as Invoice;
  expect(estimate.status).toBe('draft');
  expect(estimate.totalGross?.value).toBeGreaterThan(0);
  expect(rationale('billing')).toContain('not an emergency visit');
  expect(byStep.get('billing')?.output?.some((o) => o.valueReference?.reference === `Invoice/${estimate.id}`)).toBe(true);

  // Scheduling: the request booked at the earliest free cardiology slot, the slot busy.
  const appointment = (await m.searchOne(
    'Appointment',
    { 'based-on': `ServiceRequest/${requestId}` },
    { cache: 'no-cache' },
  )) as WithId<Appointment>;
  expect(appointment).toMatchObject({ status: 'booked' });
  expect(appointment.participant.map((p) => p.actor?.reference)).toContain(`Patient/${patient.id}`);
  const slot = await m.readReference<Slot>({ reference: appointment.slot?.[0].reference as string }, { cache: 'no-cache' });
  expect(slot.status).toBe('busy');
  expect(slot.start).toBe(appointment.start);
  expect(rationale('scheduling')).toContain('Cardiology (routine');

  // Communication: the confirmation delivered to the patient, the reminder waiting for its day.
  const requests: CommunicationRequest[] = await m.searchResources(
    'CommunicationRequest',
    { 'based-on': `Appointment/${appointment.id}` },
    { cache: 'no-cache' },
  );
  const confirmation = requests.find((r) => r.payload?.[0].contentString?.includes('is booked for')) as WithId<CommunicationRequest>;
  expect(['active', 'completed']).toContain(confirmation.status);
  // The reminder is on-hold until the day before (an appointment within 24 h: due at once, so possibly already sent).
  const reminder = requests.find((r) => r.payload?.[0].contentString?.startsWith('Reminder:'));
  expect(reminder?.occurrenceDateTime).toBeDefined();
  const sent = await waitFor(
    async () => {
      const found: Communication[] = await m.searchResources(
        'Communication',
        { 'based-on': `CommunicationRequest/${confirmation.id}` },
        { cache: 'no-cache' },
      );
      return found.find((c) => c.status === 'completed');
    },
    30_000,
    'the confirmation Communication',
  );
  expect(sent.recipient?.[0].reference).toBe(`Patient/${patient.id}`);
  expect(sent.payload?.[0].contentString).toContain('is booked for');
  expect(rationale('communication')).toContain(`Appointment/${appointment.id}`);
}, 240_000);

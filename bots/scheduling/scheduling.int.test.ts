/**
 * The scheduling agent through the real server: seeded clinics and slots, `Slot/$find`,
 * `Appointment/$book` with many parallel requests for one slot (exactly one wins, the others get
 * 409 with the next free slots), cancel and reschedule free the slot and notify, an Appointment
 * written without a slot (as the HL7 SIU conversion writes it) takes its slot and frees it when
 * cancelled, and the emergency workflow's scheduling step books "cardiology within 72 h".
 */
import { resolve } from 'node:path';
import { OperationOutcomeError, type WithId } from '@medplum/core';
import type { Appointment, Bot, Bundle, CommunicationRequest, OperationOutcome, Patient, ServiceRequest, Slot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { seed } from '../../scripts/seed.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createEncounterWith, deployFixtureAgents, waitFor, waitForStep } from '../../test/workflow-agents.ts';
import { STEP_CODES } from '../lib/workflow.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CARDIOLOGY = 'http://snomed.info/sct|394579002';
let t: TestServer;
let patient: WithId<Patient>;
let leeId: string;

function book(slot: string, who = patient): Promise<Appointment> {
  return t.newClient().post(t.medplum.fhirUrl('Appointment', '$book'), {
    resourceType: 'Parameters',
    parameter: [
      { name: 'slot', valueReference: { reference: slot } },
      { name: 'patient', valueReference: { reference: `Patient/${who.id}` } },
    ],
  }) as Promise<Appointment>;
}

async function findSlots(query: Record<string, string>): Promise<WithId<Slot>[]> {
  const bundle = (await t.medplum.get(t.medplum.fhirUrl('Slot', '$find').toString() + `?${new URLSearchParams(query)}`, {
    cache: 'no-cache',
  })) as Bundle<WithId<Slot>>;
  return (bundle.entry ?? []).map((e) => e.resource as WithId<Slot>);
}

const slotStatus = async (ref: string) => (await t.medplum.readReference<Slot>({ reference: ref }, { cache: 'no-cache' })).status;

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200, cron: true } });
  const seeded = await seed(t.medplum, { dir: resolve(ROOT, 'seed'), days: 7, patients: 0 });
  leeId = seeded.ids.get('Practitioner/dr-lee') as string;
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'scheduling'] });
  await deployFixtureAgents(
    t.medplum,
    STEP_CODES.filter((s) => s !== 'scheduling'),
  );
  patient = await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Moreau', given: ['Luc'] }],
    birthDate: '1968-03-14',
    telecom: [{ system: 'email', value: 'luc@example.org' }],
  });
}, 240_000);

afterAll(async () => {
  await t?.close();
});

describe('finding and booking', () => {
  test('$find: free cardiology slots within 72 hours, earliest first; bad input is a 400', async () => {
    const slots = await findSlots({ specialty: CARDIOLOGY, urgency: 'asap', count: '5' });
    expect(slots.length).toBeGreaterThan(0);
    expect(slots.every((s) => s.status === 'free' && s.specialty?.[0].coding?.[0].code === '394579002')).toBe(true);
    const starts = slots.map((s) => Date.parse(s.start as string));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(Math.max(...starts)).toBeLessThan(Date.now() + 72 * 3_600_000);
    const bad = await findSlots({ urgency: 'whenever' }).catch((err: OperationOutcomeError) => err);
    expect(bad).toBeInstanceOf(OperationOutcomeError);
    expect((bad as OperationOutcomeError).outcome.issue?.[0].details?.text).toContain('urgency must be one of');
  });

  test('20 parallel bookings of one slot: exactly one succeeds, the others get 409 with the next free slots', async () => {
    const [slot] = await findSlots({ specialty: CARDIOLOGY, count: '1' });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => book(`Slot/${slot.id}`)));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) {
      const outcome = (r.reason as OperationOutcomeError).outcome as OperationOutcome;
      expect(outcome.issue?.[0]).toMatchObject({ severity: 'error', code: 'conflict' });
      const next = outcome.issue?.filter((i) => i.code === 'informational').map((i) => i.expression?.[0]);
      expect(next?.length).toBeGreaterThan(0);
      expect(next).not.toContain(`Slot/${slot.id}`);
    }
    expect(await slotStatus(`Slot/${slot.id}`)).toBe('busy');
    const appointments = await t.medplum.searchResources('Appointment', { slot: `Slot/${slot.id}` }, { cache: 'no-cache' });
    expect(appointments).toHaveLength(1);
    const appointment = appointments[0];
    expect(appointment).toMatchObject({ status: 'booked', start: slot.start });
    expect(appointment.participant.map((p) => p.actor?.reference)).toContain(
      `Practitioner/${
        // Dr. Lee or Dr. Okafor, whoever has the earliest cardiology slot
        appointment.participant.find((p) => p.actor?.reference?.startsWith('Practitioner/'))?.actor?.reference?.split('/')[1]
      }`,
    );
    const messages: CommunicationRequest[] = await t.medplum.searchResources(
      'CommunicationRequest',
      { 'based-on': `Appointment/${appointment.id}` },
      { cache: 'no-cache' },
    );
    expect(messages).toHaveLength(2);
    const confirmation = messages.find((m) => m.payload?.[0].contentString?.includes('is booked for'));
    expect(confirmation?.status).toBe('active');
    // The reminder waits for the day before; for an appointment within 24 h it is due at once, and
    // any scheduling event (another booking here) may already have sent it.
    const reminder = messages.find((m) => m.payload?.[0].contentString?.startsWith('Reminder:'));
    const reminderDue = Date.parse(reminder?.occurrenceDateTime as string) <= Date.now();
    expect(reminder?.status).toEqual(reminderDue ? expect.stringMatching(/^(on-hold|active)$/) : 'on-hold');
  });

  test('reschedule moves the appointment and frees the old slot; cancel frees the slot and tells the patient', async () => {
    const [first, second] = await findSlots({ specialty: CARDIOLOGY, count: '2' });
    const appointment = await book(`Slot/${first.id}`);
    const moved = (await t.medplum.post(t.medplum.fhirUrl('Appointment', '$reschedule'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'appointment', valueReference: { reference: `Appointment/${appointment.id}` } },
        { name: 'slot', valueReference: { reference: `Slot/${second.id}` } },
      ],
    })) as Appointment;
    expect(moved).toMatchObject({ start: second.start, slot: [{ reference: `Slot/${second.id}` }] });
    expect(await slotStatus(`Slot/${first.id}`)).toBe('free');
    expect(await slotStatus(`Slot/${second.id}`)).toBe('busy');

    await t.medplum.updateResource({ ...(await t.medplum.readResource('Appointment', appointment.id as string)), status: 'cancelled' });
    await waitFor(async () => ((await slotStatus(`Slot/${second.id}`)) === 'free' ? true : undefined), 20_000, 'the slot freed');
    const messages = await waitFor(async () => {
      const found: CommunicationRequest[] = await t.medplum.searchResources(
        'CommunicationRequest',
        { 'based-on': `Appointment/${appointment.id}` },
        { cache: 'no-cache' },
      );
      return found.some((m) => m.payload?.[0].contentString?.includes('is cancelled')) ? found : undefined;
    });
    expect(messages.some((m) => m.payload?.[0].contentString?.includes('has moved to'))).toBe(true);
    // no reminder is left pending for a cancelled appointment
    expect(messages.filter((m) => m.status === 'on-hold')).toHaveLength(0);
  });

  test('an appointment written without a slot (as from HL7 SIU) takes its slot; cancelling it frees the slot', async () => {
    const lee = await t.medplum.searchOne('Schedule', { actor: `Practitioner/${leeId}` });
    const [slot] = await t.medplum.searchResources(
      'Slot',
      { schedule: `Schedule/${lee?.id}`, status: 'free', _sort: 'start', _count: '1' },
      { cache: 'no-cache' },
    );
    const siu = await t.medplum.createResource<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      identifier: [{ system: 'urn:hl7:filler', value: 'SIU-1' }],
      start: slot.start,
      end: slot.end,
      participant: [
        { actor: { reference: `Patient/${patient.id}` }, status: 'accepted' },
        { actor: { reference: `Practitioner/${leeId}` }, status: 'accepted' },
      ],
    });
    await waitFor(async () => ((await slotStatus(`Slot/${slot.id}`)) === 'busy' ? true : undefined), 20_000, 'the SIU slot busy');
    const linked = await waitFor(async () => {
      const a = await t.medplum.readResource('Appointment', siu.id as string, { cache: 'no-cache' });
      return a.slot?.length ? a : undefined;
    });
    expect(linked.slot?.[0].reference).toBe(`Slot/${slot.id}`);
    // a FHIR booking of that slot now conflicts
    await expect(book(`Slot/${slot.id}`)).rejects.toThrow(/no longer free/);
    await t.medplum.updateResource({ ...linked, status: 'cancelled' });
    await waitFor(async () => ((await slotStatus(`Slot/${slot.id}`)) === 'free' ? true : undefined), 20_000, 'the SIU slot freed');
  });
});

describe('reminders', () => {
  async function pendingReminder(): Promise<WithId<CommunicationRequest>> {
    return t.medplum.createResource<CommunicationRequest>({
      resourceType: 'CommunicationRequest',
      status: 'on-hold',
      category: [{ coding: [{ system: 'https://emergisphere.dev/fhir/CodeSystem/communication-category', code: 'appointment' }] }],
      subject: { reference: `Patient/${patient.id}` },
      recipient: [{ reference: `Patient/${patient.id}` }],
      occurrenceDateTime: new Date(Date.now() - 60_000).toISOString(),
      payload: [{ contentString: 'Reminder: your appointment is tomorrow.' }],
    });
  }
  const statusOf = async (r: WithId<CommunicationRequest>) =>
    (await t.medplum.readResource('CommunicationRequest', r.id, { cache: 'no-cache' })).status;

  test('a due reminder goes out with the next scheduling event (no cron needed); a future one waits', async () => {
    const due = await pendingReminder();
    const later = await t.medplum.createResource<CommunicationRequest>({
      ...(await pendingReminder()),
      id: undefined,
      occurrenceDateTime: new Date(Date.now() + 86_400_000).toISOString(),
    });
    // Any Appointment event reaches the scheduling bot through its Subscription.
    const [slot] = await findSlots({ specialty: CARDIOLOGY, count: '1' });
    await book(`Slot/${slot.id}`);
    await waitFor(async () => ((await statusOf(due)) === 'active' ? true : undefined), 20_000, 'the due reminder activated');
    expect(await statusOf(later)).toBe('on-hold');
  });

  test('$execute {"action":"send-due-reminders"} and a cron run (the Bot as input) send due reminders', async () => {
    const bot = await t.medplum.searchOne('Bot', { identifier: 'https://emergisphere.dev/fhir/bot|scheduling' });
    const first = await pendingReminder();
    const viaAction = (await t.medplum.executeBot(bot?.id as string, { action: 'send-due-reminders' }, 'application/json')) as {
      activated: string[];
    };
    // A sweep started by an earlier test's Appointment events may send a reminder first; either
    // way it is sent once, and when this call did it, it says so.
    expect(await statusOf(first)).toBe('active');
    expect(viaAction.activated.every((ref) => ref.startsWith('CommunicationRequest/'))).toBe(true);
    const second = await pendingReminder();
    const viaCron = (await t.medplum.executeBot(bot?.id as string, bot, 'application/fhir+json')) as { activated: string[] };
    expect(await statusOf(second)).toBe('active');
    expect(viaCron.activated.every((ref) => ref.startsWith('CommunicationRequest/'))).toBe(true);
    expect(
      [...viaAction.activated, ...viaCron.activated].filter((r) => r === `CommunicationRequest/${first.id}`).length,
    ).toBeLessThanOrEqual(1);
  });
});

test('emergency workflow: the scheduling step books cardiology within 72 h from the discharge plan', async () => {
  const { encounterId, resourceId: requestId } = await createEncounterWith(
    t.medplum,
    {
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ text: 'chest pain' }],
    },
    {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      priority: 'asap',
      code: { text: 'Cardiology follow-up within 72 h' },
      performerType: { coding: [{ system: 'http://snomed.info/sct', code: '394579002', display: 'Cardiology' }], text: 'Cardiology' },
      subject: { reference: `Patient/${patient.id}` },
      occurrencePeriod: { end: new Date(Date.now() + 72 * 3_600_000).toISOString() },
    },
  );
  const task = await waitForStep(t.medplum, `Encounter/${encounterId}`, 'scheduling');
  expect(task.status).toBe('completed');
  const appointment = await t.medplum.searchOne('Appointment', { 'based-on': `ServiceRequest/${requestId}` }, { cache: 'no-cache' });
  expect(appointment?.status).toBe('booked');
  expect(Date.parse(appointment?.start as string)).toBeLessThan(Date.now() + 72 * 3_600_000);
  expect(task.output?.find((o) => o.type?.text === 'appointment')?.valueReference?.reference).toBe(`Appointment/${appointment?.id}`);
  expect(task.output?.find((o) => o.type?.text === 'rationale')?.valueString).toContain('Cardiology (asap');
  expect(await slotStatus(appointment?.slot?.[0].reference as string)).toBe('busy');
}, 90_000);

test('a discharge CarePlan: a detail activity and a referenced ServiceRequest are both booked and recorded on the plan', async () => {
  const m = t.medplum;
  const neuro = await m.createResource<ServiceRequest>({
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    priority: 'urgent',
    code: { text: 'Neurology review' },
    performerType: { coding: [{ system: 'http://snomed.info/sct', code: '394591006', display: 'Neurology' }], text: 'Neurology' },
    subject: { reference: `Patient/${patient.id}` },
  });
  const { encounterId, resourceId: planId } = await createEncounterWith(
    m,
    {
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ text: 'fall, wrist pain, brief loss of consciousness' }],
    },
    {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      title: 'Discharge plan',
      subject: { reference: `Patient/${patient.id}` },
      activity: [
        {
          detail: {
            status: 'not-started',
            code: {
              coding: [{ system: 'http://snomed.info/sct', code: '394801008', display: 'Trauma and orthopedics' }],
              text: 'Fracture clinic',
            },
            scheduledString: 'within 2 weeks',
            reasonCode: [{ text: 'distal radius fracture' }],
          },
        },
        { reference: { reference: `ServiceRequest/${neuro.id}` } },
        { detail: { status: 'not-started', description: 'Rest and ice the wrist' } },
      ],
    },
  );
  const task = await waitForStep(m, `Encounter/${encounterId}`, 'scheduling');
  expect(task.status).toBe('completed');
  const ortho = await m.searchOne('ServiceRequest', { identifier: `https://emergisphere.dev/fhir/care-plan-activity|${planId}/0` });
  expect(ortho).toMatchObject({ basedOn: [{ reference: `CarePlan/${planId}` }], encounter: { reference: `Encounter/${encounterId}` } });
  const orthoAppt = await m.searchOne('Appointment', { 'based-on': `ServiceRequest/${ortho?.id}` }, { cache: 'no-cache' });
  const neuroAppt = await m.searchOne('Appointment', { 'based-on': `ServiceRequest/${neuro.id}` }, { cache: 'no-cache' });
  expect(orthoAppt?.specialty?.[0].coding?.[0].code).toBe('394801008');
  expect(Date.parse(orthoAppt?.start as string)).toBeLessThan(Date.now() + 14 * 86_400_000);
  expect(neuroAppt?.specialty?.[0].coding?.[0].code).toBe('394591006');
  expect(Date.parse(neuroAppt?.start as string)).toBeLessThan(Date.now() + 7 * 86_400_000);
  for (const a of [orthoAppt, neuroAppt]) {
    expect(a?.status).toBe('booked');
    expect(await slotStatus(a?.slot?.[0].reference as string)).toBe('busy');
  }
  const plan = await m.readResource('CarePlan', planId, { cache: 'no-cache' });
  expect(plan.activity?.[0]).toMatchObject({
    detail: { status: 'scheduled' },
    outcomeReference: [{ reference: `Appointment/${orthoAppt?.id}` }],
  });
  expect(plan.activity?.[1].outcomeReference).toEqual([{ reference: `Appointment/${neuroAppt?.id}` }]);
  expect(plan.activity?.[2].outcomeReference).toBeUndefined();
  expect(task.output?.filter((o) => o.type?.text === 'appointment')).toHaveLength(2);
}, 90_000);

test('cron: deploy-bots gives the bot its cronString, and a cron run alone sends due reminders', async () => {
  const m = t.medplum;
  const bot = (await m.searchOne(
    'Bot',
    { identifier: 'https://emergisphere.dev/fhir/bot|scheduling' },
    { cache: 'no-cache' },
  )) as WithId<Bot>;
  expect(bot.cronString).toBe('*/5 * * * *'); // from medplum.config.json
  const reminder = await m.createResource<CommunicationRequest>({
    resourceType: 'CommunicationRequest',
    status: 'on-hold',
    category: [{ coding: [{ system: 'https://emergisphere.dev/fhir/CodeSystem/communication-category', code: 'appointment' }] }],
    subject: { reference: `Patient/${patient.id}` },
    recipient: [{ reference: `Patient/${patient.id}` }],
    occurrenceDateTime: new Date(Date.now() - 60_000).toISOString(),
    payload: [{ contentString: 'Reminder: your appointment is tomorrow.' }],
  });
  // Every second instead of every five minutes, so the test need not wait; no scheduling event happens meanwhile.
  await m.updateResource<Bot>({ ...bot, cronString: '* * * * * *' });
  try {
    await waitFor(
      async () =>
        (await m.readResource('CommunicationRequest', reminder.id, { cache: 'no-cache' })).status === 'active' ? true : undefined,
      20_000,
      'the cron run to send the reminder',
    );
  } finally {
    await m.updateResource<Bot>({ ...(await m.readResource('Bot', bot.id, { cache: 'no-cache' })), cronString: '*/5 * * * *' });
  }
}, 60_000);

/**
 * HL7 SIU and FHIR scheduling stay consistent, on real parts: SIU messages over MLLP (our MLLP
 * client, over TCP) → the HL7 bridge (message store, ACK, conversion workers) → the hl7-inbound
 * bot → an Appointment → the scheduling bot through its Subscription → the seeded Slot. The SIU
 * names the clinician by the hospital's HL7 provider number (AIP-3), which the seed's
 * Practitioners carry (`https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP`), so the appointment
 * lands on the seeded schedule: S12 books (slot busy), S13 moves it (new slot busy, old free),
 * S15 cancels (slot free, patient told).
 */
import { resolve } from 'node:path';
import type { WithId } from '@medplum/core';
import type { Appointment, CommunicationRequest, Slot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MllpClient } from '../../hl7-bridge/mllp/client.ts';
import { er7 } from '../../hl7-bridge/test-corpus/messages.ts';
import { type Stack, startStack } from '../../hl7-bridge/test-support/stack.ts';
import { seed } from '../../scripts/seed.ts';
import { waitFor } from '../../test/workflow-agents.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SID = 'https://emergisphere.dev/fhir/sid/hl7v2/';
let s: Stack;
let client: MllpClient;
let leeId: string;

beforeAll(async () => {
  s = await startStack({ bots: ['hl7-inbound', 'scheduling'] });
  const seeded = await seed(s.t.medplum, { dir: resolve(ROOT, 'seed'), days: 7 });
  leeId = seeded.ids.get('Practitioner/dr-lee') as string;
  client = new MllpClient({ host: '127.0.0.1', port: s.port });
}, 240_000);

afterAll(async () => {
  client?.close();
  await s?.close();
});

/** An ISO instant as an HL7 DTM in UTC. */
const dtm = (iso: string) => `${iso.replace(/[-:T]/g, '').slice(0, 14)}+0000`;

function siu(event: 'S12' | 'S13' | 'S15', control: string, slot: Slot): string {
  const status = event === 'S15' ? 'Cancelled' : 'Booked';
  const cancel = event === 'S15' ? 'PATCANC^Patient cancelled^LOCAL' : '';
  return er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|${dtm(new Date().toISOString())}||SIU^${event}^SIU_S12|${control}|P|2.5.1
SCH|APT900^CADENCE|APT900^CADENCE||||${cancel}|FOLLOWUP^Cardiology follow-up^LOCAL|ROUTINE^Routine^HL70276|20|MIN|^^20^${dtm(slot.start as string)}^${dtm(slot.end as string)}||||||||||||||${status}
PID|1||SIU900^^^GENHOSP^MR||Nakamura^Ken||19720411|M
AIS|1||CARDIO^Cardiology follow-up^LOCAL|${dtm(slot.start as string)}|||20|MIN
AIP|1||1001^Lee^Grace|ATT^Attending
`);
}

async function send(text: string): Promise<void> {
  const ack = (await client.send(Buffer.from(text))).toString('latin1');
  expect(ack).toMatch(/MSA\|AA\|/);
}

const slotStatus = async (id: string) => (await s.t.medplum.readResource('Slot', id, { cache: 'no-cache' })).status;

async function appointment(until: (a: WithId<Appointment>) => boolean, what: string): Promise<WithId<Appointment>> {
  return waitFor(
    async () => {
      const a = await s.t.medplum.searchOne('Appointment', { identifier: `${SID}CADENCE|APT900` }, { cache: 'no-cache' });
      return a && until(a) ? a : undefined;
    },
    60_000,
    what,
  );
}

test('SIU S12 books the seeded slot, S13 moves it, S15 frees it; FHIR booking sees the same state', async () => {
  const m = s.t.medplum;
  const schedule = await m.searchOne('Schedule', { actor: `Practitioner/${leeId}` });
  const [first, second] = await m.searchResources(
    'Slot',
    { schedule: `Schedule/${schedule?.id}`, status: 'free', _sort: 'start', _count: '2' },
    { cache: 'no-cache' },
  );

  await send(siu('S12', 'SIU-T-1', first));
  const booked = await appointment((a) => a.slot?.[0]?.reference === `Slot/${first.id}`, 'the SIU appointment linked to its slot');
  expect(booked.status).toBe('booked');
  // The provider number resolved to the seeded Practitioner: no stray Practitioner was created.
  expect(booked.participant.map((p) => p.actor?.reference)).toContain(`Practitioner/${leeId}`);
  expect(await m.searchResources('Practitioner', { identifier: `${SID}GENHOSP|1001` }, { cache: 'no-cache' })).toHaveLength(1);
  expect(await slotStatus(first.id)).toBe('busy');
  // A FHIR booking of the same slot now conflicts.
  await expect(
    m.post(m.fhirUrl('Appointment', '$book'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'slot', valueReference: { reference: `Slot/${first.id}` } },
        { name: 'patient', valueReference: { reference: booked.participant[0].actor?.reference } },
      ],
    }),
  ).rejects.toThrow(/no longer free/);

  await send(siu('S13', 'SIU-T-2', second));
  const moved = await appointment((a) => a.slot?.[0]?.reference === `Slot/${second.id}`, 'the rescheduled appointment on its new slot');
  expect(moved.start && Date.parse(moved.start)).toBe(Date.parse(second.start as string));
  await waitFor(async () => ((await slotStatus(first.id)) === 'free' ? true : undefined), 30_000, 'the old slot freed');
  expect(await slotStatus(second.id)).toBe('busy');

  await send(siu('S15', 'SIU-T-3', second));
  const cancelled = await appointment((a) => a.status === 'cancelled', 'the cancellation');
  expect(cancelled.cancelationReason?.coding?.[0].code).toBe('PATCANC');
  await waitFor(async () => ((await slotStatus(second.id)) === 'free' ? true : undefined), 30_000, 'the slot freed by S15');
  expect(await slotStatus(first.id)).toBe('free');
  const told = await waitFor(async () => {
    const found: CommunicationRequest[] = await m.searchResources(
      'CommunicationRequest',
      { 'based-on': `Appointment/${cancelled.id}` },
      { cache: 'no-cache' },
    );
    return found.find((r) => r.payload?.[0].contentString?.includes('is cancelled'));
  });
  expect(told.recipient?.[0].reference).toBe(booked.participant[0].actor?.reference);
  // Each slot is held by no active appointment any more, and exactly one appointment exists for the SIU id.
  expect(await m.searchResources('Appointment', { identifier: `${SID}CADENCE|APT900` }, { cache: 'no-cache' })).toHaveLength(1);
}, 180_000);

/**
 * Booking without double booking. A slot is taken by one versioned write: the Slot is updated
 * from `free` to `busy` with `If-Match` on the version that was read as free, so of any number of
 * concurrent bookings exactly one write succeeds; the others get 412 from the server and answer
 * 409 (an OperationOutcome naming the next free slots of the same specialty). Only then is the
 * Appointment created; if that fails, the slot is given back.
 */
import { conflict, getStatus, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Appointment, OperationOutcome, Reference, Schedule, Slot } from '@medplum/fhirtypes';
import { BadRequest, findFreeSlots } from './find.ts';

export interface BookRequest {
  slot: string;
  patient: Reference;
  basedOn?: Reference[];
  reason?: string;
  description?: string;
}

export type BookResult = { appointment: WithId<Appointment>; slot: WithId<Slot> } | { conflict: OperationOutcome };

const NEXT_FREE = 3;

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof OperationOutcomeError && getStatus(err.outcome) === status;
}

function ifMatch(r: { meta?: { versionId?: string } }): { headers: Record<string, string> } {
  return { headers: { 'If-Match': `W/"${r.meta?.versionId}"` } };
}

/** The 409 answer: why, and the next free slots (as informational issues with their references). */
export async function conflictOutcome(medplum: MedplumClient, slot: Slot, why: string): Promise<OperationOutcome> {
  const specialty = slot.specialty?.[0]?.coding?.[0];
  const next = (
    await findFreeSlots(medplum, {
      specialty: specialty?.code ? `${specialty.system ?? ''}|${specialty.code}` : undefined,
      start: slot.start ?? new Date().toISOString(),
      end: new Date(Date.parse(slot.start ?? new Date().toISOString()) + 30 * 86_400_000).toISOString(),
      count: NEXT_FREE + 1,
    })
  )
    .filter((s) => s.id !== slot.id)
    .slice(0, NEXT_FREE);
  const outcome = conflict(why);
  outcome.issue = [
    ...(outcome.issue ?? []),
    ...next.map((s) => ({
      severity: 'information' as const,
      code: 'informational' as const,
      details: { text: `next free slot: Slot/${s.id} ${s.start} – ${s.end}` },
      expression: [`Slot/${s.id}`],
    })),
  ];
  return outcome;
}

/** Takes the slot (free → busy, versioned). Undefined when someone else has it. */
export async function takeSlot(medplum: MedplumClient, slotId: string): Promise<{ slot: WithId<Slot> } | { taken: Slot }> {
  const slot = await medplum.readResource('Slot', slotId, { cache: 'no-cache' });
  if (slot.status !== 'free') return { taken: slot };
  try {
    return { slot: await medplum.updateResource<Slot>({ ...slot, status: 'busy' }, ifMatch(slot)) };
  } catch (err) {
    if (isStatus(err, 412) || isStatus(err, 409)) return { taken: slot };
    throw err;
  }
}

/** Gives a slot back (busy → free), unless it is already free. */
export async function releaseSlot(medplum: MedplumClient, slotId: string): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const slot = await medplum.readResource('Slot', slotId, { cache: 'no-cache' });
    if (slot.status === 'free') return false;
    try {
      await medplum.updateResource<Slot>({ ...slot, status: 'free' }, ifMatch(slot));
      return true;
    } catch (err) {
      if (!isStatus(err, 412)) throw err;
    }
  }
  throw new Error(`Slot/${slotId} keeps changing; could not free it`);
}

async function actorsOf(medplum: MedplumClient, slot: Slot): Promise<Schedule['actor']> {
  if (!slot.schedule?.reference) return [];
  const schedule = await medplum.readReference(slot.schedule as Reference<Schedule>);
  return schedule.actor ?? [];
}

export function appointmentFor(slot: WithId<Slot>, actors: Schedule['actor'], req: BookRequest): Appointment {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    slot: [{ reference: `Slot/${slot.id}` }],
    start: slot.start,
    end: slot.end,
    created: new Date().toISOString(),
    ...(slot.specialty ? { specialty: slot.specialty } : {}),
    ...(slot.serviceType ? { serviceType: slot.serviceType } : {}),
    ...(req.basedOn?.length ? { basedOn: req.basedOn as Appointment['basedOn'] } : {}),
    ...(req.reason ? { reasonCode: [{ text: req.reason }] } : {}),
    ...(req.description ? { description: req.description } : {}),
    participant: [
      { actor: req.patient as NonNullable<Appointment['participant'][0]['actor']>, status: 'accepted', required: 'required' },
      ...(actors ?? []).map((a) => ({ actor: a as NonNullable<Appointment['participant'][0]['actor']>, status: 'accepted' as const })),
    ],
  };
}

/** Books `req.slot` for the patient (see the module comment). */
export async function bookSlot(medplum: MedplumClient, req: BookRequest): Promise<BookResult> {
  const taken = await takeSlot(medplum, req.slot);
  if ('taken' in taken) {
    return { conflict: await conflictOutcome(medplum, taken.taken, `Slot/${req.slot} is no longer free`) };
  }
  const slot = taken.slot;
  try {
    const appointment = await medplum.createResource(appointmentFor(slot, await actorsOf(medplum, slot), req));
    return { appointment, slot };
  } catch (err) {
    await releaseSlot(medplum, slot.id);
    throw err;
  }
}

/** Moves an appointment to another slot: the new slot is taken first, then the old one freed. */
export async function reschedule(
  medplum: MedplumClient,
  appointmentId: string,
  slotId: string,
): Promise<{ appointment: WithId<Appointment>; freed: string[] } | { conflict: OperationOutcome }> {
  const appointment = await medplum.readResource('Appointment', appointmentId, { cache: 'no-cache' });
  if (!['booked', 'pending', 'proposed'].includes(appointment.status)) {
    throw new BadRequest(`Appointment/${appointmentId} is ${appointment.status}; only a booked appointment can be moved`);
  }
  const taken = await takeSlot(medplum, slotId);
  if ('taken' in taken) {
    return { conflict: await conflictOutcome(medplum, taken.taken, `Slot/${slotId} is no longer free`) };
  }
  const old = (appointment.slot ?? []).map((s) => s.reference?.split('/')[1]).filter((id): id is string => !!id && id !== slotId);
  let updated: WithId<Appointment>;
  try {
    updated = await medplum.updateResource<Appointment>(
      { ...appointment, slot: [{ reference: `Slot/${slotId}` }], start: taken.slot.start, end: taken.slot.end },
      ifMatch(appointment),
    );
  } catch (err) {
    await releaseSlot(medplum, slotId);
    throw err;
  }
  const freed: string[] = [];
  for (const id of old) {
    if (await releaseSlot(medplum, id)) freed.push(`Slot/${id}`);
  }
  return { appointment: updated, freed };
}

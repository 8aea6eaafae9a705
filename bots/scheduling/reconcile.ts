/**
 * Keeps Slots and Appointments consistent whoever writes the Appointment (the FHIR API, the
 * `$book` operation, or an HL7 SIU message converted by the hl7-inbound agent):
 * - an active appointment (pending, booked, arrived, checked-in, fulfilled) holds its slots busy;
 *   one without a slot (SIU carries none) is matched to the free slot of its practitioner's
 *   schedule that starts at the same instant, which it then references; one whose time changed
 *   without its slot (SIU S13/S14 reschedule by time) moves to the slot at the new time and frees
 *   the old one (or, with no slot at the new time, just frees the old one);
 * - a cancelled, no-show or entered-in-error appointment frees its slots (unless another active
 *   appointment holds them) and, when cancelled, the patient is told and pending reminders revoked.
 * Running twice for one version changes nothing the second time.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Appointment, Reference, Schedule, Slot } from '@medplum/fhirtypes';
import { isStatus, releaseSlot, takeSlot } from './book.ts';
import { notifyPatient } from './notify.ts';

export const ACTIVE_STATUSES = ['pending', 'booked', 'arrived', 'checked-in', 'fulfilled'];
const ENDED_STATUSES = ['cancelled', 'noshow', 'entered-in-error'];

export interface Reconciled {
  appointment: string;
  held: string[];
  freed: string[];
  linked?: string;
  conflicts: string[];
  notified: string[];
}

async function matchSlot(medplum: MedplumClient, a: Appointment): Promise<WithId<Slot> | undefined> {
  if (!a.start) return undefined;
  for (const p of a.participant ?? []) {
    const ref = p.actor?.reference;
    if (!ref || !/^(Practitioner|PractitionerRole|HealthcareService)\//.test(ref)) continue;
    const schedules: Schedule[] = await medplum.searchResources('Schedule', { actor: ref, active: 'true' }, { cache: 'no-cache' });
    for (const schedule of schedules) {
      const instant = new Date(a.start).toISOString();
      const slot = await medplum.searchOne(
        'Slot',
        { schedule: `Schedule/${schedule.id}`, start: `eq${instant}`, status: 'free' },
        { cache: 'no-cache' },
      );
      if (slot?.start && Date.parse(slot.start) === Date.parse(a.start)) return slot;
    }
  }
  return undefined;
}

async function heldByOther(medplum: MedplumClient, slotRef: string, appointmentId: string): Promise<boolean> {
  const others = await medplum.searchResources(
    'Appointment',
    { slot: slotRef, status: ACTIVE_STATUSES.join(','), _count: '2' },
    { cache: 'no-cache' },
  );
  return others.some((o) => o.id !== appointmentId);
}

export async function reconcileAppointment(medplum: MedplumClient, input: WithId<Appointment>): Promise<Reconciled> {
  const a = await medplum.readResource('Appointment', input.id, { cache: 'no-cache' });
  const result: Reconciled = { appointment: `Appointment/${a.id}`, held: [], freed: [], conflicts: [], notified: [] };
  const slotRefs = (a.slot ?? []).map((s) => s.reference).filter((r): r is string => !!r?.startsWith('Slot/'));
  if (ACTIVE_STATUSES.includes(a.status)) {
    const linked = await Promise.all(
      slotRefs.map((ref) => medplum.readReference({ reference: ref } as Reference<Slot>, { cache: 'no-cache' })),
    );
    // Moved without its slot (SIU S13/S14 send a new time, not a slot): the slot at the new time replaces the old one.
    const moved = !!a.start && linked.length > 0 && linked.every((s) => !s.start || Date.parse(s.start) !== Date.parse(a.start as string));
    if (slotRefs.length === 0 || moved) {
      const slot = await matchSlot(medplum, a);
      if (!slot && !moved) return result;
      if (slot) {
        const taken = await takeSlot(medplum, slot.id);
        if ('taken' in taken) {
          result.conflicts.push(`Slot/${slot.id} was taken meanwhile`);
          return result;
        }
      }
      try {
        await medplum.updateResource<Appointment>(
          { ...a, slot: slot ? [{ reference: `Slot/${slot.id}` } as Reference<Slot>] : undefined },
          { headers: { 'If-Match': `W/"${a.meta?.versionId}"` } },
        );
      } catch (err) {
        if (slot) await releaseSlot(medplum, slot.id);
        if (isStatus(err, 412)) return result; // the appointment changed: its next version is reconciled
        throw err;
      }
      if (slot) {
        result.linked = `Slot/${slot.id}`;
        result.held.push(`Slot/${slot.id}`);
      }
      for (const ref of moved ? slotRefs : []) {
        if (await heldByOther(medplum, ref, a.id)) continue;
        if (await releaseSlot(medplum, ref.split('/')[1])) result.freed.push(ref);
      }
      return result;
    }
    for (const slot of linked) {
      if (slot.status === 'busy') continue;
      const taken = await takeSlot(medplum, slot.id as string);
      if ('taken' in taken) result.conflicts.push(`Slot/${slot.id} is ${taken.taken.status}`);
      else result.held.push(`Slot/${slot.id}`);
    }
    return result;
  }
  if (ENDED_STATUSES.includes(a.status)) {
    for (const ref of slotRefs) {
      if (await heldByOther(medplum, ref, a.id)) continue;
      if (await releaseSlot(medplum, ref.split('/')[1])) result.freed.push(ref);
    }
    // Only the change into "cancelled" tells the patient (a later edit of a cancelled appointment does not).
    if (a.status === 'cancelled' && result.freed.length + slotRefs.length > 0 && !(await alreadyToldCancelled(medplum, a.id))) {
      result.notified = await notifyPatient(medplum, a, 'cancelled');
    }
  }
  return result;
}

async function alreadyToldCancelled(medplum: MedplumClient, id: string): Promise<boolean> {
  const sent = await medplum.searchResources(
    'CommunicationRequest',
    { 'based-on': `Appointment/${id}`, _count: '50' },
    { cache: 'no-cache' },
  );
  return sent.some((r) => r.payload?.[0]?.contentString?.includes('is cancelled'));
}

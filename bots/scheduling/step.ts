/**
 * The workflow's `scheduling` step: books what the visit's orders ask for. A follow-up request
 * is an active ServiceRequest of the encounter naming a specialty (`performerType`, e.g. SNOMED CT
 * 394579002 cardiology) — the discharge plan's "cardiology within 72 h", or, in the `regular`
 * workflow, the appointment request itself. Its window is `occurrencePeriod` (or from
 * `occurrenceDateTime`), else its priority's urgency window from now (stat 24 h, asap 72 h,
 * urgent 7 d, routine 30 d). The earliest free slot of that specialty in the window is booked
 * (a slot lost to a concurrent booking → the next one); the patient gets the confirmation and a
 * reminder through the communication agent. A request that already has an active appointment
 * is not booked again, so a re-run (or a redelivery) books nothing twice. Follow-ups written as
 * activities of the encounter's CarePlan are booked the same way (care-plan.ts). Orders written after
 * the step ran are booked by re-running it (`$workflow-override` action `rerun`).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { ServiceRequest } from '@medplum/fhirtypes';
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { bookSlot } from './book.ts';
import { carePlanFollowUps, recordOnPlan } from './care-plan.ts';
import { findFreeSlots, URGENCY_WINDOW_HOURS, type Urgency } from './find.ts';
import { notifyPatient } from './notify.ts';
import { ACTIVE_STATUSES } from './reconcile.ts';

const ATTEMPTS = 5;

export function requestWindow(sr: ServiceRequest, now: Date): { start: string; end: string; urgency: Urgency } {
  const urgency = (sr.priority ?? 'routine') as Urgency;
  const start = Math.max(now.getTime(), Date.parse(sr.occurrencePeriod?.start ?? sr.occurrenceDateTime ?? '') || 0);
  const explicitEnd = Date.parse(sr.occurrencePeriod?.end ?? '');
  const end = Number.isNaN(explicitEnd) ? start + URGENCY_WINDOW_HOURS[urgency] * 3_600_000 : explicitEnd;
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString(), urgency };
}

function specialtyOf(sr: ServiceRequest): { query: string; name: string } | undefined {
  const c = sr.performerType?.coding?.[0];
  if (!c?.code) return undefined;
  return { query: `${c.system ?? ''}|${c.code}`, name: sr.performerType?.text ?? c.display ?? c.code };
}

export interface FollowUpResult {
  outputs: StepOutput[];
  reasons: string[];
  /** ServiceRequest id → Appointment/<id> (booked now or before). */
  appointments: Map<string, string>;
}

export async function bookFollowUps(medplum: MedplumClient, requests: WithId<ServiceRequest>[], now = new Date()): Promise<FollowUpResult> {
  const outputs: StepOutput[] = [];
  const reasons: string[] = [];
  const appointments = new Map<string, string>();
  for (const sr of requests) {
    const specialty = specialtyOf(sr);
    if (!specialty) continue;
    const existing = await medplum.searchOne(
      'Appointment',
      { 'based-on': `ServiceRequest/${sr.id}`, status: ACTIVE_STATUSES.join(',') },
      { cache: 'no-cache' },
    );
    if (existing) {
      outputs.push({ type: 'appointment', reference: `Appointment/${existing.id}` });
      appointments.set(sr.id, `Appointment/${existing.id}`);
      reasons.push(`${specialty.name}: already booked (Appointment/${existing.id})`);
      continue;
    }
    const win = requestWindow(sr, now);
    const patient = sr.subject;
    let booked = false;
    for (let attempt = 0; attempt < ATTEMPTS && !booked; attempt++) {
      const [slot] = await findFreeSlots(medplum, { specialty: specialty.query, start: win.start, end: win.end, count: 1 });
      if (!slot) break;
      const result = await bookSlot(medplum, {
        slot: slot.id,
        patient,
        basedOn: [{ reference: `ServiceRequest/${sr.id}` }],
        reason: sr.reasonCode?.[0]?.text ?? sr.code?.text,
        description: sr.code?.text,
      });
      if ('conflict' in result) continue;
      booked = true;
      outputs.push({ type: 'appointment', reference: `Appointment/${result.appointment.id}` });
      appointments.set(sr.id, `Appointment/${result.appointment.id}`);
      const notes = await notifyPatient(medplum, result.appointment, 'booked', now);
      for (const n of notes) outputs.push({ type: 'appointment notification', reference: n });
      reasons.push(`${specialty.name} (${win.urgency}, by ${win.end}): booked ${result.slot.start} (Slot/${result.slot.id})`);
    }
    if (!booked) {
      reasons.push(`${specialty.name}: no free slot between ${win.start} and ${win.end} — needs a person to arrange it`);
    }
  }
  return { outputs, reasons, appointments };
}

export async function schedulingStep(ctx: StepContext): Promise<StepOutcome> {
  if (!ctx.encounter) {
    return { rationale: `nothing to book: Task/${ctx.task.id} has no encounter` };
  }
  const own = await ctx.medplum.searchResources(
    'ServiceRequest',
    { encounter: `Encounter/${ctx.encounter.id}`, status: 'active', _count: '50' },
    { cache: 'no-cache' },
  );
  const planned = await carePlanFollowUps(ctx.medplum, ctx.encounter);
  const requests = [...new Map([...own, ...planned.map((p) => p.request)].map((r) => [r.id, r])).values()];
  const { outputs, reasons, appointments } = await bookFollowUps(ctx.medplum, requests);
  for (const followUp of planned) {
    const appointment = appointments.get(followUp.request.id);
    if (appointment) await recordOnPlan(ctx.medplum, followUp, appointment);
  }
  const booked = outputs.filter((o) => o.type === 'appointment').length;
  return {
    outputs,
    rationale: reasons.length ? reasons.join('; ') : 'no follow-up requested',
    note: `${booked} appointment(s) booked`,
  };
}

/**
 * The workflow's `communication` step: who should hear about this visit, as CommunicationRequests
 * that this same agent then delivers (so consent, channels and escalation apply as for any other
 * notification).
 * - emergency: the family (a non-clinical "is being cared for" update; delivery checks consent) and,
 *   for ESI 3, a notice to the charge nurses (ESI 1–2 were already paged at triage);
 * - emergency_device: the family, told that the care team was alerted;
 * - device_scan: the charge nurses, told that a device now monitors the patient;
 * - regular (an appointment visit): the scheduling step already asked for each appointment's
 *   confirmation and reminder; this step checks that every appointment booked for the visit's
 *   requests has them and reports them, so the visit's workflow shows what the patient was told.
 * Requests are created once per Task version, so a redelivery sends nothing twice.
 */
import type { CommunicationRequest, Reference, RelatedPerson } from '@medplum/fhirtypes';
import { esiOfPriority } from '../lib/acuity.ts';
import { createOnce } from '../lib/idempotency.ts';
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { CATEGORY_SYSTEM, ON_CALL_SYSTEM } from './codes.ts';

type Category = 'family-update' | 'staff-notice';

function request(
  ctx: StepContext,
  category: Category,
  recipients: Reference[],
  text: string,
  priority: CommunicationRequest['priority'],
): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: category }] }],
    priority,
    ...(ctx.patient ? { subject: { reference: `Patient/${ctx.patient.id}` } } : {}),
    ...(ctx.encounter ? { encounter: { reference: `Encounter/${ctx.encounter.id}` } } : {}),
    recipient: recipients as CommunicationRequest['recipient'],
    authoredOn: new Date().toISOString(),
    reasonCode: [{ text: `workflow step: communication (Task/${ctx.task.id})` }],
    payload: [{ contentString: text }],
  };
}

async function family(ctx: StepContext): Promise<Reference[]> {
  if (!ctx.patient) return [];
  const people: RelatedPerson[] = await ctx.medplum.searchResources(
    'RelatedPerson',
    { patient: `Patient/${ctx.patient.id}`, active: 'true' },
    { cache: 'no-cache' },
  );
  return people.map((p) => ({ reference: `RelatedPerson/${p.id}` }));
}

async function team(ctx: StepContext, name: string): Promise<Reference | undefined> {
  const found = await ctx.medplum.searchOne('CareTeam', { identifier: `${ON_CALL_SYSTEM}|${name}` }, { cache: 'no-cache' });
  return found ? { reference: `CareTeam/${found.id}` } : undefined;
}

function planOf(ctx: StepContext): 'emergency' | 'emergency_device' | 'device_scan' | 'regular' | 'other' {
  const key = ctx.task.identifier?.map((i) => i.value ?? '').join(' ') ?? '';
  if (key.includes('/PlanDefinition/emergency_device|')) return 'emergency_device';
  if (key.includes('/PlanDefinition/device_scan|')) return 'device_scan';
  if (key.includes('/PlanDefinition/emergency|')) return 'emergency';
  if (key.includes('/PlanDefinition/regular|')) return 'regular';
  return 'other';
}

export async function communicationStep(ctx: StepContext): Promise<StepOutcome> {
  const plan = planOf(ctx);
  const planned: { effect: string; request: CommunicationRequest }[] = [];
  const reasons: string[] = [];
  const relatives = plan === 'emergency' || plan === 'emergency_device' ? await family(ctx) : [];
  if (relatives.length > 0) {
    const text =
      plan === 'emergency'
        ? 'Your relative has arrived at the emergency department and is being cared for. We will update you as the visit goes on.'
        : "Your relative's monitoring device raised an alert; the care team has been notified and is responding.";
    planned.push({ effect: 'family-update', request: request(ctx, 'family-update', relatives, text, 'routine') });
    reasons.push(`${relatives.length} family member(s) notified, subject to the patient's consent (checked at delivery)`);
  } else if (plan === 'emergency' || plan === 'emergency_device') {
    reasons.push('no family member on record');
  }
  const esi = esiOfPriority(ctx.encounter?.priority);
  if (plan === 'emergency' && esi === 3) {
    const nurses = await team(ctx, 'charge-nurse');
    if (nurses) {
      const complaint = ctx.encounter?.reasonCode?.[0]?.text ?? 'no complaint recorded';
      planned.push({
        effect: 'staff-notice',
        request: request(ctx, 'staff-notice', [nurses], `New ESI 3 arrival: ${complaint}`, 'routine'),
      });
      reasons.push('ESI 3: charge nurses notified');
    } else {
      reasons.push('ESI 3 but no charge-nurse on-call team is configured');
    }
  } else if (plan === 'emergency') {
    reasons.push(
      esi === undefined
        ? 'no acuity yet: no staff notice'
        : esi <= 2
          ? `ESI ${esi}: staff were paged at triage`
          : `ESI ${esi}: no staff notice needed`,
    );
  }
  if (plan === 'device_scan' && ctx.device) {
    const nurses = await team(ctx, 'charge-nurse');
    const name = ctx.device.deviceName?.[0]?.name ?? ctx.device.serialNumber ?? `Device/${ctx.device.id}`;
    if (nurses) {
      planned.push({
        effect: 'staff-notice',
        request: request(ctx, 'staff-notice', [nurses], `${name} now monitors this patient`, 'routine'),
      });
      reasons.push('charge nurses told about the new device');
    } else {
      reasons.push('no charge-nurse on-call team is configured');
    }
  }
  const outputs: StepOutput[] = [];
  if (plan === 'regular') {
    const told = await appointmentMessages(ctx);
    outputs.push(...told.outputs);
    reasons.push(...told.reasons);
  }
  for (const { effect, request: resource } of planned) {
    const created = await createOnce(ctx.medplum, { bot: 'communication', trigger: ctx.trigger, effect, resource });
    outputs.push({ type: effect, reference: `CommunicationRequest/${created.id}` });
  }
  return { outputs, rationale: reasons.join('; ') || 'nothing to send', note: `${outputs.length} notification(s) requested` };
}

/** The confirmations and reminders of the appointments booked for this visit's requests. */
async function appointmentMessages(ctx: StepContext): Promise<{ outputs: StepOutput[]; reasons: string[] }> {
  const outputs: StepOutput[] = [];
  const reasons: string[] = [];
  if (!ctx.encounter) return { outputs, reasons: ['no encounter: no appointment to confirm'] };
  const noCache = { cache: 'no-cache' } as const;
  const requests = await ctx.medplum.searchResources(
    'ServiceRequest',
    { encounter: `Encounter/${ctx.encounter.id}`, _count: '50' },
    noCache,
  );
  const appointments = requests.length
    ? await ctx.medplum.searchResources(
        'Appointment',
        { 'based-on': requests.map((r) => `ServiceRequest/${r.id}`).join(','), status: 'booked,pending', _count: '50' },
        noCache,
      )
    : [];
  for (const a of appointments) {
    const messages: CommunicationRequest[] = await ctx.medplum.searchResources(
      'CommunicationRequest',
      { 'based-on': `Appointment/${a.id}`, _count: '20' },
      noCache,
    );
    const confirmation = messages.find((m) => m.status === 'active' || m.status === 'completed');
    const reminder = messages.find((m) => m.status === 'on-hold');
    if (confirmation) outputs.push({ type: 'appointment confirmation', reference: `CommunicationRequest/${confirmation.id}` });
    if (reminder) outputs.push({ type: 'appointment reminder', reference: `CommunicationRequest/${reminder.id}` });
    reasons.push(
      `Appointment/${a.id} (${a.start ?? 'no time'}): ${confirmation ? 'confirmation sent' : 'NO confirmation requested'}` +
        (reminder ? `, reminder due ${reminder.occurrenceDateTime}` : ''),
    );
  }
  if (appointments.length === 0) reasons.push('no appointment booked for this visit');
  return { outputs, reasons };
}

/**
 * Follow-ups written in a discharge `CarePlan` are booked like ServiceRequests. An active CarePlan
 * of the encounter may name a follow-up in two ways (R4 allows one per activity):
 * - `activity.reference` → a ServiceRequest: that request is booked as it is;
 * - `activity.detail`: `code` = the specialty (SNOMED CT, e.g. 394579002 cardiology), the window from
 *   `scheduledPeriod`, `scheduledTiming.repeat.boundsPeriod` or a `scheduledString` such as
 *   "within 72 hours" / "within 2 weeks", the reason from `reasonCode`/`description`. Appointment.basedOn
 *   can only name a ServiceRequest, so such an activity becomes one (created once, identifier
 *   CarePlan id + activity index, `basedOn` the CarePlan) and is booked like any other; the booked
 *   Appointment is then recorded on the activity (`outcomeReference`, detail status `scheduled`).
 * Activities that are done, cancelled or already scheduled are left alone.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { CarePlan, CarePlanActivity, Encounter, Period, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import { isStatus } from './book.ts';

export const CARE_PLAN_ACTIVITY_SYSTEM = `${ES}/care-plan-activity`;
const CLOSED_DETAIL = new Set(['completed', 'cancelled', 'stopped', 'entered-in-error', 'scheduled', 'in-progress']);
const UNIT_MS: Record<string, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

/** "within 72 hours", "in 2 weeks", "within 10 days" → a window from `now`; anything else → undefined. */
export function windowFromText(text: string | undefined, now: Date): Period | undefined {
  const m = /(?:within|in)\s+(\d{1,3})\s*(h|hours?|d|days?|w|weeks?)\b/i.exec(text ?? '');
  if (!m) return undefined;
  const unit = m[2].toLowerCase().startsWith('h') ? 'hour' : m[2].toLowerCase().startsWith('w') ? 'week' : 'day';
  return { start: now.toISOString(), end: new Date(now.getTime() + Number(m[1]) * UNIT_MS[unit]).toISOString() };
}

/** The ServiceRequest a detail activity stands for, or undefined when it names no bookable follow-up. Pure. */
export function requestFromActivity(
  plan: WithId<CarePlan>,
  index: number,
  activity: CarePlanActivity,
  encounter: Reference<Encounter>,
  now: Date,
): ServiceRequest | undefined {
  const detail = activity.detail;
  if (!detail?.code?.coding?.some((c) => c.code) || CLOSED_DETAIL.has(detail.status) || detail.doNotPerform) return undefined;
  const window =
    detail.scheduledPeriod ??
    detail.scheduledTiming?.repeat?.boundsPeriod ??
    windowFromText(detail.scheduledString ?? detail.description, now);
  const text = detail.code.text ?? detail.code.coding?.[0]?.display;
  return {
    resourceType: 'ServiceRequest',
    identifier: [{ system: CARE_PLAN_ACTIVITY_SYSTEM, value: `${plan.id}/${index}` }],
    status: 'active',
    intent: 'order',
    priority: 'routine',
    basedOn: [{ reference: `CarePlan/${plan.id}` }],
    code: { text: detail.description ?? (text ? `${text} follow-up` : 'Follow-up') },
    performerType: detail.code,
    subject: plan.subject as ServiceRequest['subject'],
    encounter,
    ...(window ? { occurrencePeriod: window } : {}),
    ...(detail.reasonCode?.length ? { reasonCode: detail.reasonCode } : {}),
    authoredOn: now.toISOString(),
  };
}

export interface PlannedFollowUp {
  request: WithId<ServiceRequest>;
  /** Where it came from, to record the booking on it. */
  plan: WithId<CarePlan>;
  activity: number;
}

/** The follow-ups of the encounter's active CarePlans, as (existing or created-once) ServiceRequests. */
export async function carePlanFollowUps(
  medplum: MedplumClient,
  encounter: WithId<Encounter>,
  now = new Date(),
): Promise<PlannedFollowUp[]> {
  const plans = await medplum.searchResources(
    'CarePlan',
    { encounter: `Encounter/${encounter.id}`, status: 'active', _count: '20' },
    { cache: 'no-cache' },
  );
  const found: PlannedFollowUp[] = [];
  for (const plan of plans) {
    for (const [i, activity] of (plan.activity ?? []).entries()) {
      const ref = activity.reference?.reference;
      if (ref?.startsWith('ServiceRequest/')) {
        const request = await medplum.readReference<ServiceRequest>({ reference: ref }, { cache: 'no-cache' });
        if (request.status === 'active') found.push({ request, plan, activity: i });
        continue;
      }
      const draft = requestFromActivity(plan, i, activity, { reference: `Encounter/${encounter.id}` }, now);
      if (!draft) continue;
      const request = await medplum.createResourceIfNoneExist(
        draft,
        `identifier=${encodeURIComponent(`${CARE_PLAN_ACTIVITY_SYSTEM}|${plan.id}/${i}`)}`,
      );
      if (request.status === 'active') found.push({ request, plan, activity: i });
    }
  }
  return found;
}

/** Records the booked appointment on the plan's activity (best effort: the appointment already names its request). */
export async function recordOnPlan(medplum: MedplumClient, followUp: PlannedFollowUp, appointment: string): Promise<void> {
  const plan = await medplum.readResource('CarePlan', followUp.plan.id, { cache: 'no-cache' });
  const activity = plan.activity?.[followUp.activity];
  if (!activity || activity.outcomeReference?.some((r) => r.reference === appointment)) return;
  const updated: CarePlanActivity = {
    ...activity,
    outcomeReference: [...(activity.outcomeReference ?? []), { reference: appointment }],
    ...(activity.detail ? { detail: { ...activity.detail, status: 'scheduled' } } : {}),
  };
  try {
    await medplum.updateResource<CarePlan>(
      { ...plan, activity: plan.activity?.map((a, i) => (i === followUp.activity ? updated : a)) },
      { headers: { 'If-Match': `W/"${plan.meta?.versionId}"` } },
    );
  } catch (err) {
    if (!isStatus(err, 412)) throw err;
    console.log(`CarePlan/${plan.id} changed meanwhile; ${appointment} is linked through its ServiceRequest only`);
  }
}

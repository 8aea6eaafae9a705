/**
 * Slots from a Schedule's working hours. Pure: the seed script and the scheduling agent both use it.
 *
 * Working hours are the actor's `availableTime` (PractitionerRole or HealthcareService: days of week,
 * start and end in the clinic's local time); the gaps between two ranges of one day are breaks.
 * Blocked time is either recurring (the Schedule's `blocked-time` extension: days, start, end,
 * reason) or dated (the actor's `notAvailable.during`). Every slot has a stable identifier
 * (schedule key + start instant), so generating the same range twice creates nothing new.
 */
import type { CodeableConcept, Extension, Period, PractitionerRoleAvailableTime, Reference, Slot } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';

export const SLOT_MINUTES_EXTENSION = `${ES}/StructureDefinition/slot-minutes`;
export const BLOCKED_TIME_EXTENSION = `${ES}/StructureDefinition/blocked-time`;
export const TIMEZONE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/timezone';
export const SLOT_IDENTIFIER_SYSTEM = `${ES}/slot`;

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface RecurringBlock {
  days: string[];
  start: string;
  end: string;
  reason?: string;
}

export interface SlotPlan {
  /** Schedule/<id>, the slots' `schedule`. */
  schedule: Reference;
  /** A stable key of the schedule (its identifier value), part of every slot identifier. */
  scheduleKey: string;
  specialty?: CodeableConcept[];
  serviceType?: CodeableConcept[];
  availableTime: PractitionerRoleAvailableTime[];
  blocked: RecurringBlock[];
  /** Dated absences (notAvailable.during). */
  notAvailable: Period[];
  slotMinutes: number;
  timeZone: string;
  /** First and last local calendar day, inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
}

/** Minutes east of UTC of `zone` at `instant` (e.g. -420 for California in summer). */
export function zoneOffsetMinutes(instant: Date, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((wall - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

/** The instant of a local wall-clock time (date YYYY-MM-DD, time HH:MM[:SS]) in `zone`. */
export function zonedInstant(date: string, time: string, zone: string): Date {
  const wall = new Date(`${date}T${time.length === 5 ? `${time}:00` : time}Z`);
  const first = zoneOffsetMinutes(wall, zone);
  const guess = new Date(wall.getTime() - first * 60_000);
  const second = zoneOffsetMinutes(guess, zone);
  return second === first ? guess : new Date(wall.getTime() - second * 60_000);
}

function minutesOf(time: string): number {
  const [h, m] = time.split(':').map(Number);
  return h * 60 + m;
}

function timeOf(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00`;
}

function* days(from: string, to: string): Generator<string> {
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end; t += 86_400_000) {
    yield new Date(t).toISOString().slice(0, 10);
  }
}

function weekday(date: string): string {
  return DAYS[new Date(`${date}T00:00:00Z`).getUTCDay()];
}

/** Recurring blocks from the Schedule's `blocked-time` extensions. */
export function recurringBlocks(extensions: Extension[] | undefined): RecurringBlock[] {
  return (extensions ?? [])
    .filter((e) => e.url === BLOCKED_TIME_EXTENSION)
    .map((e) => {
      const sub = e.extension ?? [];
      return {
        days: sub.filter((s) => s.url === 'day').map((s) => s.valueCode ?? ''),
        start: sub.find((s) => s.url === 'start')?.valueTime ?? '00:00:00',
        end: sub.find((s) => s.url === 'end')?.valueTime ?? '00:00:00',
        reason: sub.find((s) => s.url === 'reason')?.valueString,
      };
    });
}

export function slotIdentifier(scheduleKey: string, start: string): { system: string; value: string } {
  return { system: SLOT_IDENTIFIER_SYSTEM, value: `${scheduleKey}@${start}` };
}

function overlaps(aStart: number, aEnd: number, period: Period): boolean {
  const s = period.start ? Date.parse(period.start) : Number.NEGATIVE_INFINITY;
  const e = period.end ? Date.parse(period.end) : Number.POSITIVE_INFINITY;
  return aStart < e && s < aEnd;
}

/** The free slots of the plan's days, in start order (blocked and absent time left out). */
export function generateSlots(plan: SlotPlan): Slot[] {
  if (!Number.isInteger(plan.slotMinutes) || plan.slotMinutes <= 0) {
    throw new Error(`slot length must be a positive number of minutes, got ${plan.slotMinutes}`);
  }
  const slots: Slot[] = [];
  for (const date of days(plan.from, plan.to)) {
    const day = weekday(date);
    const blocks = plan.blocked.filter((b) => b.days.includes(day));
    const ranges = plan.availableTime
      .filter((a) => a.allDay || a.daysOfWeek?.includes(day as never))
      .map((a) => [
        minutesOf(a.allDay ? '00:00' : (a.availableStartTime ?? '00:00')),
        minutesOf(a.allDay ? '24:00' : (a.availableEndTime ?? '00:00')),
      ])
      .sort((x, y) => x[0] - y[0]);
    for (const [rangeStart, rangeEnd] of ranges) {
      for (let m = rangeStart; m + plan.slotMinutes <= rangeEnd; m += plan.slotMinutes) {
        const end = m + plan.slotMinutes;
        if (blocks.some((b) => m < minutesOf(b.end) && minutesOf(b.start) < end)) continue;
        const startAt = zonedInstant(date, timeOf(m), plan.timeZone);
        const endAt = new Date(startAt.getTime() + plan.slotMinutes * 60_000);
        if (plan.notAvailable.some((p) => overlaps(startAt.getTime(), endAt.getTime(), p))) continue;
        const start = startAt.toISOString();
        slots.push({
          resourceType: 'Slot',
          identifier: [slotIdentifier(plan.scheduleKey, start)],
          schedule: plan.schedule as Slot['schedule'],
          status: 'free',
          start,
          end: endAt.toISOString(),
          ...(plan.specialty ? { specialty: plan.specialty } : {}),
          ...(plan.serviceType ? { serviceType: plan.serviceType } : {}),
        });
      }
    }
  }
  return slots;
}

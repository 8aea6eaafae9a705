/**
 * Free slots by specialty, date range and urgency (`Slot/$find`).
 *
 * Urgency bounds the search window when no end is given: `stat` 24 h, `asap` 72 h, `urgent`
 * 7 days, `routine` 30 days (FHIR request-priority codes, the same a ServiceRequest carries).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Slot } from '@medplum/fhirtypes';

export const URGENCY_WINDOW_HOURS = { stat: 24, asap: 72, urgent: 7 * 24, routine: 30 * 24 } as const;
export type Urgency = keyof typeof URGENCY_WINDOW_HOURS;

export interface FindRequest {
  /** A specialty code (SNOMED CT, e.g. 394579002 cardiology), optionally `system|code`. */
  specialty?: string;
  start: string;
  end: string;
  count: number;
  schedule?: string;
}

export class BadRequest extends Error {}

const MAX_COUNT = 100;

/** The window of a request: from `start` (default now) to `end` (default start + the urgency's window). */
export function window(
  input: { start?: string; end?: string; urgency?: string },
  now = new Date(),
): { start: string; end: string; urgency: Urgency } {
  const urgency = (input.urgency ?? 'routine') as Urgency;
  if (!(urgency in URGENCY_WINDOW_HOURS)) {
    throw new BadRequest(`urgency must be one of ${Object.keys(URGENCY_WINDOW_HOURS).join(', ')}; got "${input.urgency}"`);
  }
  const startMs = input.start ? Date.parse(input.start) : now.getTime();
  if (Number.isNaN(startMs)) throw new BadRequest(`start is not a date: "${input.start}"`);
  const endMs = input.end ? Date.parse(input.end) : startMs + URGENCY_WINDOW_HOURS[urgency] * 3_600_000;
  if (Number.isNaN(endMs)) throw new BadRequest(`end is not a date: "${input.end}"`);
  if (endMs <= startMs) throw new BadRequest('end must be after start');
  return { start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString(), urgency };
}

export function parseCount(value: unknown, fallback = 10): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT) throw new BadRequest(`count must be an integer from 1 to ${MAX_COUNT}`);
  return n;
}

/** Free slots in the window, earliest first. */
export async function findFreeSlots(medplum: MedplumClient, req: FindRequest): Promise<WithId<Slot>[]> {
  const params = new URLSearchParams({ status: 'free', _sort: 'start', _count: String(req.count) });
  params.append('start', `ge${req.start}`);
  params.append('start', `lt${req.end}`);
  if (req.specialty) params.set('specialty', req.specialty);
  if (req.schedule) params.set('schedule', req.schedule);
  return medplum.searchResources('Slot', params, { cache: 'no-cache' });
}

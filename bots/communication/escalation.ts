/**
 * Escalation of unacknowledged stat pages: level 0 pages the first participant on shift, level 1
 * the next one, level 2 the whole team; each level waits the request's escalation interval
 * (extension escalate-after, default 5 minutes) for an acknowledgement. Pure functions.
 */
import type { CareTeam, Communication, CommunicationRequest, Duration } from '@medplum/fhirtypes';
import { DEFAULT_ESCALATE_AFTER_MS, ESCALATE_AFTER_EXT, ESCALATION_DUE_EXT, ESCALATION_LEVEL_EXT, RECHECK_DONE_MS } from './codes.ts';
import { isPage, type Target, teamMembers, teamTargets } from './recipients.ts';

export const FIRST_LEVEL = 0;
export const NEXT_LEVEL = 1;
export const TEAM_LEVEL = 2;

export type EscalationStep =
  | { kind: 'done'; reason: 'closed' | 'not-escalating' | 'exhausted' }
  | { kind: 'wait'; until: Date }
  | { kind: 'page'; level: number; targets: Target[] };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, min: 60_000, h: 3_600_000, hour: 3_600_000 };

/** A Duration in milliseconds (UCUM `ms`, `s`, `min`, `h`), or undefined when it is not one. */
export function durationMs(d: Duration | undefined): number | undefined {
  const unit = d?.code ?? d?.unit;
  const factor = unit ? UNIT_MS[unit] : undefined;
  return d?.value !== undefined && d.value >= 0 && factor ? d.value * factor : undefined;
}

export function escalateAfterMs(request: CommunicationRequest): number {
  const ext = request.extension?.find((e) => e.url === ESCALATE_AFTER_EXT);
  return durationMs(ext?.valueDuration) ?? DEFAULT_ESCALATE_AFTER_MS;
}

/** Only stat pages escalate. */
export function escalates(request: CommunicationRequest): boolean {
  return isPage(request) && request.priority === 'stat';
}

export function levelOf(page: Communication): number {
  return page.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger ?? FIRST_LEVEL;
}

export interface EscalationInput {
  request: CommunicationRequest;
  /** The on-call team the request was addressed to. */
  team: CareTeam | undefined;
  /** The request's page Communications so far (basedOn the request, not responses). */
  pages: Communication[];
  now: Date;
}

/** What to do now for one request: nothing more, wait, or page these people at this level. */
export function nextEscalation({ request, team, pages, now }: EscalationInput): EscalationStep {
  if (request.status !== 'active') return { kind: 'done', reason: 'closed' };
  if (!escalates(request) || !team) return { kind: 'done', reason: 'not-escalating' };
  if (pages.length === 0) {
    // The first page never went out (its delivery failed every attempt): send it, but only once
    // the delivery has had an interval's time, so a run never races a delivery in progress.
    const due = (Date.parse(request.authoredOn ?? request.meta?.lastUpdated ?? '') || 0) + escalateAfterMs(request);
    if (now.getTime() < due) return { kind: 'wait', until: new Date(due) };
    const targets = teamTargets(team, true, now);
    return targets.length ? { kind: 'page', level: FIRST_LEVEL, targets } : { kind: 'done', reason: 'exhausted' };
  }
  const level = Math.max(...pages.map(levelOf));
  const lastSent = Math.max(...pages.filter((p) => levelOf(p) === level).map((p) => Date.parse(p.sent ?? p.meta?.lastUpdated ?? '') || 0));
  const due = lastSent + escalateAfterMs(request);
  if (now.getTime() < due) return { kind: 'wait', until: new Date(due) };
  if (level >= TEAM_LEVEL) return { kind: 'done', reason: 'exhausted' };

  const paged = new Set(pages.flatMap((p) => p.recipient ?? []).map((r) => r.reference));
  const members = teamMembers(team, now).filter((m) => !paged.has(m.reference));
  const strip = ({ onShift: _, ...t }: (typeof members)[number]): Target => t;
  if (level < NEXT_LEVEL) {
    const next = members.find((m) => m.onShift);
    if (next) return { kind: 'page', level: NEXT_LEVEL, targets: [strip(next)] };
  }
  // The whole team: everyone on shift not paged yet; in a rota gap, everyone on the list.
  const onShift = members.filter((m) => m.onShift);
  const rest = onShift.length ? onShift : members;
  return rest.length ? { kind: 'page', level: TEAM_LEVEL, targets: rest.map(strip) } : { kind: 'done', reason: 'exhausted' };
}

/**
 * When the sweep should look at the request again after this step: when its wait ends; an interval
 * after paging a level; after RECHECK_DONE_MS when nothing is left to escalate (a team member may
 * come on shift); undefined for a request no longer active (the sweep never reads it again).
 */
export function nextCheck(request: CommunicationRequest, step: EscalationStep, now: Date): Date | undefined {
  if (step.kind === 'wait') return step.until;
  if (step.kind === 'page') return new Date(now.getTime() + escalateAfterMs(request));
  return step.reason === 'closed' ? undefined : new Date(now.getTime() + RECHECK_DONE_MS);
}

/** The escalation-due time stamped on a request, if any. */
export function dueOf(request: CommunicationRequest): string | undefined {
  return request.extension?.find((e) => e.url === ESCALATION_DUE_EXT)?.valueDateTime;
}

/** The request with its escalation-due time set to `due`. */
export function withDue<T extends CommunicationRequest>(request: T, due: Date): T {
  const others = (request.extension ?? []).filter((e) => e.url !== ESCALATION_DUE_EXT);
  return { ...request, extension: [...others, { url: ESCALATION_DUE_EXT, valueDateTime: due.toISOString() }] };
}

/**
 * The escalation run (cron, or `$execute` with `{ "action": "escalate" }`): every active stat page
 * whose current level went unacknowledged for its interval is paged one level further. Each page
 * looked at is stamped with when to look again (escalation-due), so a run reads only the pages due.
 */
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, CareTeam, CommunicationRequest } from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM } from './codes.ts';
import { deliverToTargets } from './deliver.ts';
import { dueOf, nextCheck, nextEscalation, withDue } from './escalation.ts';
import { addToLookup, emptyLookup, type Lookup, pagesIn } from './load.ts';
import { referenceOf } from './recipients.ts';
import type { Run } from './send.ts';

export interface Escalated {
  request: string;
  level: number;
  recipients: string[];
}

export interface SweepSummary {
  checked: number;
  escalated: Escalated[];
}

/** Active stat pages with their Communications, on-call teams and the teams' people, a page at a time. */
const QUERY = [
  'status=active',
  `category=${encodeURIComponent(`${CATEGORY_SYSTEM}|page`)}`,
  'priority=stat',
  '_revinclude=Communication:based-on',
  '_include=CommunicationRequest:recipient',
  '_include:iterate=CareTeam:participant',
  '_include:iterate=PractitionerRole:practitioner',
  '_count=50',
].join('&');

function teamOf(request: CommunicationRequest, lookup: Lookup): CareTeam | undefined {
  const ref = request.recipient?.find((r) => r.reference?.startsWith('CareTeam/'))?.reference;
  return ref ? (lookup.resources.get(ref) as CareTeam | undefined) : undefined;
}

/**
 * Every active stat page that is due (its escalation-due time passed) or that no sweep has looked
 * at yet, read in full before any is handled: stamping one moves it out of its query, and paging
 * on through a set that shrinks meanwhile would skip pages.
 */
async function duePages(run: Run): Promise<{ requests: CommunicationRequest[]; lookup: Lookup }> {
  const lookup = emptyLookup();
  const requests = new Map<string, CommunicationRequest>();
  for (const when of [`escalation-due=le${encodeURIComponent(run.now.toISOString())}`, 'escalation-due:missing=true']) {
    let bundle: Bundle | undefined = await run.medplum.search('CommunicationRequest', `${QUERY}&${when}`, { cache: 'no-cache' });
    while (bundle) {
      addToLookup(
        lookup,
        (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])),
      );
      for (const e of bundle.entry ?? []) {
        if (e.search?.mode !== 'include' && e.resource?.resourceType === 'CommunicationRequest')
          requests.set(referenceOf(e.resource), e.resource);
      }
      const next: string | undefined = bundle.link?.find((l) => l.relation === 'next')?.url;
      bundle = next ? await run.medplum.get<Bundle>(next, { cache: 'no-cache' }) : undefined;
    }
  }
  return { requests: [...requests.values()], lookup };
}

/**
 * Stamps when the sweep should look at the request next (guarded by If-Match). A failure only
 * means the next sweep reads it again: a request that changed meanwhile (acknowledged, completed)
 * is not overwritten, and escalating the other pages goes on.
 */
async function stampDue(run: Run, request: CommunicationRequest, due: Date | undefined): Promise<void> {
  if (!due || dueOf(request) === due.toISOString()) return;
  try {
    await run.medplum.updateResource(withDue(request, due), { headers: { 'If-Match': `W/"${request.meta?.versionId}"` } });
  } catch (err) {
    console.log(`[warn] ${referenceOf(request)}: escalation-due not stamped (${normalizeErrorString(err)}); the next sweep reads it again`);
  }
}

export async function escalateStatPages(run: Run): Promise<SweepSummary> {
  const result: SweepSummary = { checked: 0, escalated: [] };
  const { requests, lookup } = await duePages(run);
  for (const request of requests) {
    result.checked++;
    const step = nextEscalation({ request, team: teamOf(request, lookup), pages: pagesIn(lookup, request), now: run.now });
    if (step.kind === 'page') {
      const sent = await deliverToTargets(run, request, step.targets, step.level, lookup);
      result.escalated.push({
        request: referenceOf(request),
        level: step.level,
        recipients: sent.map((c) => c.recipient?.[0]?.reference ?? ''),
      });
    }
    await stampDue(run, request, nextCheck(request, step, run.now));
  }
  return result;
}

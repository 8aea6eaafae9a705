/**
 * The escalation run (cron, or `$execute` with `{ "action": "escalate" }`): every active stat page
 * whose current level went unacknowledged for its interval is paged one level further.
 */
import type { Bundle, CareTeam, CommunicationRequest } from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM } from './codes.ts';
import { deliverToTargets } from './deliver.ts';
import { nextEscalation } from './escalation.ts';
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

export async function escalateStatPages(run: Run): Promise<SweepSummary> {
  const result: SweepSummary = { checked: 0, escalated: [] };
  let bundle: Bundle | undefined = await run.medplum.search('CommunicationRequest', QUERY, { cache: 'no-cache' });
  while (bundle) {
    const lookup = emptyLookup();
    addToLookup(
      lookup,
      (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])),
    );
    const requests = (bundle.entry ?? [])
      .filter((e) => e.search?.mode !== 'include')
      .flatMap((e) => (e.resource?.resourceType === 'CommunicationRequest' ? [e.resource] : []));
    for (const request of requests) {
      result.checked++;
      const step = nextEscalation({ request, team: teamOf(request, lookup), pages: pagesIn(lookup, request), now: run.now });
      if (step.kind !== 'page') continue;
      const sent = await deliverToTargets(run, request, step.targets, step.level, lookup);
      result.escalated.push({
        request: referenceOf(request),
        level: step.level,
        recipients: sent.map((c) => c.recipient?.[0]?.reference ?? ''),
      });
    }
    const next: string | undefined = bundle.link?.find((l) => l.relation === 'next')?.url;
    bundle = next ? await run.medplum.get<Bundle>(next, { cache: 'no-cache' }) : undefined;
  }
  return result;
}

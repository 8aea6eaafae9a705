/** Delivers a CommunicationRequest: one Communication per recipient, in-app first, then SMS and email. */
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { Communication, CommunicationRequest } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import { BOT_NAME } from './codes.ts';
import { draftCommunication, draftUnreachable, effectFor, inAppDelivered } from './communication.ts';
import { completeRequest } from './complete-request.ts';
import { deliveriesOf, withDeliveries } from './delivery.ts';
import { FIRST_LEVEL, levelOf } from './escalation.ts';
import { addressesIn, consentsFor, givenName, type Lookup, loadForRequest, pagesIn, teamsIn } from './load.ts';
import { composeMessage } from './message.ts';
import { audienceOf, familyConsent, isPage, referenceOf, resolveRecipients, type Target, type Unreachable } from './recipients.ts';
import { type Run, sendPending } from './send.ts';

export interface Delivered {
  communication: string;
  recipient: string;
  status: Communication['status'];
}

export interface RequestSummary {
  request: string;
  skipped?: string;
  delivered: Delivered[];
  completed: boolean;
}

function summary(c: Communication): Delivered {
  return { communication: referenceOf(c), recipient: c.recipient?.[0]?.reference ?? '', status: c.status };
}

/**
 * A page written in-app with its request (draftInAppPage) gets the external channels this run
 * drafted for it, guarded by `If-Match`, so only one run ever marks them `sending`. Found already
 * carrying them (a redelivery, or a concurrent run that got there first), it is taken as it is,
 * exactly as createOnce returns an existing Communication.
 */
async function adoptPage(run: Run, page: Communication, draft: Communication): Promise<Communication> {
  const own = deliveriesOf(page);
  if (own.some((d) => d.channel !== 'in-app')) return page;
  const external = deliveriesOf(draft).filter((d) => d.channel !== 'in-app');
  const status = external.some((d) => d.status === 'sending') ? 'in-progress' : 'completed';
  try {
    return await run.medplum.updateResource(withDeliveries({ ...page, status }, [...own, ...external]), {
      headers: { 'If-Match': `W/"${page.meta?.versionId}"` },
    });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) throw err;
    return run.medplum.readResource('Communication', page.id as string, { cache: 'no-cache' });
  }
}

/**
 * Writes and sends the Communications of one escalation level. Every Communication is created once
 * per (request version, recipient, level), so a redelivered request or an overlapping escalation
 * run finds the existing one instead of writing (and texting) again; one already written in-app
 * with the request (`written`, by recipient) is completed with the external channels instead. All
 * in-app Communications are committed before any vendor is called.
 */
export async function deliverToTargets(
  run: Run,
  request: CommunicationRequest,
  targets: Target[],
  level: number,
  lookup: Lookup,
  written: ReadonlyMap<string, Communication> = new Map(),
): Promise<Communication[]> {
  const patient = request.subject?.reference;
  const consents = targets.some((t) => t.audience === 'family') ? await consentsFor(run.medplum, lookup, patient) : [];
  const configured = { sms: Boolean(run.channels.sms), email: Boolean(run.channels.email) };
  const drafts = targets.map((target) => {
    const addresses = addressesIn(lookup, target.reference, run.now);
    const consented = target.audience !== 'family' || familyConsent(consents, target.reference, patient, run.now);
    return {
      target,
      addresses,
      message: composeMessage({ request, audience: target.audience, level, patientGivenName: givenName(lookup, patient) }),
      communication: draftCommunication({ request, target, level, now: run.now, attempt: run.attempt, configured, addresses, consented }),
    };
  });
  const created = await Promise.all(
    drafts.map((d) => {
      const page = written.get(d.target.reference);
      return page
        ? adoptPage(run, page, d.communication)
        : createOnce(run.medplum, {
            bot: BOT_NAME,
            trigger: request,
            effect: effectFor(d.target.reference, level),
            resource: d.communication,
          });
    }),
  );
  return Promise.all(created.map((c, i) => sendPending(run, c, drafts[i].message, drafts[i].addresses)));
}

/**
 * The first-level pages written in-app with the request (IN_APP_DELIVERED_EXT), by recipient: they
 * are who the page went to, even should the on-call list have changed since.
 */
function writtenPages(request: CommunicationRequest, lookup: Lookup): Map<string, Communication> {
  const pages = inAppDelivered(request) ? pagesIn(lookup, request).filter((c) => levelOf(c) === FIRST_LEVEL) : [];
  return new Map(pages.flatMap((c) => (c.recipient?.[0]?.reference ? [[c.recipient[0].reference, c] as const] : [])));
}

/**
 * A new request: resolve its recipients (on-call teams to the people on shift; for a page already
 * written in-app, its recipients), deliver, and complete it, unless it is a page, which stays
 * active until someone acknowledges it.
 */
export async function deliverRequest(run: Run, request: CommunicationRequest): Promise<RequestSummary> {
  if (!request.id || !request.meta?.versionId) {
    throw new Error('communication: expects a stored CommunicationRequest (with id and meta.versionId)');
  }
  const ref = referenceOf(request);
  if (request.status !== 'active') {
    return { request: ref, skipped: `status is ${request.status}`, delivered: [], completed: false };
  }
  const lookup = await loadForRequest(run.medplum, request, Boolean(run.channels.sms || run.channels.email));
  const written = writtenPages(request, lookup);
  const { targets, unreachable }: { targets: Target[]; unreachable: Unreachable[] } =
    written.size > 0
      ? {
          targets: [...written.values()].map((c) => ({
            reference: c.recipient?.[0]?.reference as string,
            ...(c.recipient?.[0]?.display ? { display: c.recipient[0].display } : {}),
            audience: audienceOf(c.recipient?.[0]?.reference as string) ?? 'staff',
          })),
          unreachable: [],
        }
      : resolveRecipients(request, teamsIn(lookup), run.now);
  const [sent, notDone] = await Promise.all([
    deliverToTargets(run, request, targets, FIRST_LEVEL, lookup, written),
    Promise.all(
      unreachable.map((u) =>
        createOnce(run.medplum, {
          bot: BOT_NAME,
          trigger: request,
          effect: effectFor(u.reference, FIRST_LEVEL),
          resource: draftUnreachable(request, u),
        }),
      ),
    ),
  ]);
  const delivered = [...sent, ...notDone].map(summary);
  const completed = isPage(request)
    ? false
    : await completeRequest(run.medplum, request, `delivered to ${delivered.length} recipient(s)`, run.now);
  return { request: ref, delivered, completed };
}

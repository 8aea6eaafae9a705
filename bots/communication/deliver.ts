/** Delivers a CommunicationRequest: one Communication per recipient, in-app first, then SMS and email. */
import type { Communication, CommunicationRequest } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import { BOT_NAME } from './codes.ts';
import { draftCommunication, draftUnreachable, effectFor } from './communication.ts';
import { completeRequest } from './complete-request.ts';
import { FIRST_LEVEL } from './escalation.ts';
import { addressesIn, consentsFor, givenName, type Lookup, loadForRequest, teamsIn } from './load.ts';
import { composeMessage } from './message.ts';
import { familyConsent, isPage, referenceOf, resolveRecipients, type Target } from './recipients.ts';
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
 * Writes and sends the Communications of one escalation level. Every Communication is created once
 * per (request version, recipient, level), so a redelivered request or an overlapping escalation
 * run finds the existing one instead of writing (and texting) again. All in-app Communications are
 * committed before any vendor is called.
 */
export async function deliverToTargets(
  run: Run,
  request: CommunicationRequest,
  targets: Target[],
  level: number,
  lookup: Lookup,
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
    drafts.map((d) =>
      createOnce(run.medplum, { bot: BOT_NAME, trigger: request, effect: effectFor(d.target.reference, level), resource: d.communication }),
    ),
  );
  return Promise.all(created.map((c, i) => sendPending(run, c, drafts[i].message, drafts[i].addresses)));
}

/**
 * A new request: resolve its recipients (on-call teams to the people on shift), deliver, and
 * complete it, unless it is a page, which stays active until someone acknowledges it.
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
  const { targets, unreachable } = resolveRecipients(request, teamsIn(lookup), run.now);
  const [sent, notDone] = await Promise.all([
    deliverToTargets(run, request, targets, FIRST_LEVEL, lookup),
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

/** An acknowledgement (a Communication `inResponseTo` a page) completes the page's request. */
import type { Communication, CommunicationRequest, Reference } from '@medplum/fhirtypes';
import { completeRequest } from './complete-request.ts';
import { isPage, referenceOf } from './recipients.ts';
import type { Run } from './send.ts';

export interface AcknowledgementSummary {
  acknowledgement: string;
  /** The page requests this acknowledgement completed. */
  completed: string[];
  ignored?: string;
}

function who(ack: Communication): string {
  const sender = ack.sender ?? ack.meta?.author;
  return sender?.display ?? sender?.reference ?? 'an unknown sender';
}

async function readOrSkip<T extends CommunicationRequest | Communication>(run: Run, ref: Reference): Promise<T | undefined> {
  try {
    return (await run.medplum.readReference(ref as Reference<T>, { cache: 'no-cache' })) as T;
  } catch {
    return undefined; // deleted or not ours to read: nothing to acknowledge
  }
}

export async function acknowledge(run: Run, ack: Communication): Promise<AcknowledgementSummary> {
  const ref = ack.id ? referenceOf(ack) : 'Communication';
  if (!ack.inResponseTo?.length) return { acknowledgement: ref, completed: [], ignored: 'not a response' };
  if (ack.status !== 'completed') return { acknowledgement: ref, completed: [], ignored: `status is ${ack.status}` };
  const answered = await Promise.all(ack.inResponseTo.map((r) => readOrSkip<Communication>(run, r)));
  const requestRefs = new Set(
    answered.flatMap((c) => c?.basedOn ?? []).flatMap((b) => (b.reference?.startsWith('CommunicationRequest/') ? [b.reference] : [])),
  );
  const completed: string[] = [];
  for (const requestRef of requestRefs) {
    const request = await readOrSkip<CommunicationRequest>(run, { reference: requestRef });
    if (!request || !isPage(request)) continue;
    const note = `Acknowledged by ${who(ack)} (${ref})`;
    if (await completeRequest(run.medplum, request, note, run.now)) completed.push(requestRef);
  }
  return { acknowledgement: ref, completed };
}

/**
 * `POST DocumentReference/$custody-handover`: chain of custody for evidence (a DocumentReference:
 * a photograph, or a physical item described by its attachment title and kept elsewhere).
 *
 * Every hand-over is a Provenance targeting the evidence's current version: who released it,
 * who received it, who recorded it, when, where, why, optionally signed, and linked to the
 * previous hand-over (`entity` role source). The first one is the collection (no `from`); after
 * that, `from` must be whoever holds the evidence, or the hand-over is refused: the chain cannot
 * be broken or forked. Each link is tagged `<evidence id>:<n>` and created only if new, so
 * two hand-overs recorded at once cannot both become link n.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type {
  DocumentReference,
  Parameters,
  ParametersParameter,
  Provenance,
  ProvenanceAgent,
  Reference,
  Signature,
} from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import { ID, restricted } from './fhir.ts';
import {
  BadRequest,
  dateTimeParam,
  describeParty,
  parameters,
  referenceParam,
  sameParty,
  staffRequester,
  stringParam,
} from './operations-input.ts';

export const CUSTODY_ACTIVITY_SYSTEM = `${ES}/CodeSystem/custody-activity`;
export const CUSTODY_ROLE_SYSTEM = `${ES}/CodeSystem/custody-role`;
const PARTICIPANT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

export interface HandoverRequest {
  evidence: Reference;
  from?: Reference;
  to: Reference;
  occurred?: string;
  location?: Reference;
  reason?: string;
  signature?: Signature;
}

export function parseHandover(input: unknown): HandoverRequest {
  const params: ParametersParameter[] = parameters(input);
  const signature = params.find((p) => p.name === 'signature')?.valueSignature;
  return {
    evidence: referenceParam(params, 'evidence', { required: true, types: ['DocumentReference'], literal: true }) as Reference,
    from: referenceParam(params, 'from'),
    to: referenceParam(params, 'to', { required: true }) as Reference,
    occurred: dateTimeParam(params, 'occurred'),
    location: referenceParam(params, 'location', { types: ['Location'] }),
    reason: stringParam(params, 'reason'),
    ...(signature ? { signature } : {}),
  };
}

export const sequenceOf = (p: Provenance): number =>
  Number(
    p.meta?.tag
      ?.find((t) => t.system === ID.custody)
      ?.code?.split(':')
      .pop() ?? 0,
  );

/** Who received the evidence in this link. */
export function receiverOf(p: Provenance): Reference | undefined {
  return p.agent.find((a) => a.role?.some((r) => r.coding?.some((c) => c.system === CUSTODY_ROLE_SYSTEM && c.code === 'received-by')))?.who;
}

/** The links of the chain in order (oldest first). */
export function chainOf(provenances: Provenance[]): Provenance[] {
  return provenances
    .filter((p) => p.activity?.coding?.some((c) => c.system === CUSTODY_ACTIVITY_SYSTEM) && sequenceOf(p) > 0)
    .sort((a, b) => sequenceOf(a) - sequenceOf(b));
}

function agent(role: 'released-by' | 'received-by' | 'recorded-by', who: Reference): ProvenanceAgent {
  const type = role === 'recorded-by' ? { code: 'enterer', display: 'Enterer' } : { code: 'custodian', display: 'Custodian' };
  return {
    type: { coding: [{ system: PARTICIPANT, ...type }] },
    role: [{ coding: [{ system: CUSTODY_ROLE_SYSTEM, code: role }] }],
    who: who as ProvenanceAgent['who'],
  };
}

/** The next link of the chain; pure. Throws when `from` is not the current holder. */
export function handoverLink(
  req: HandoverRequest,
  evidence: WithId<DocumentReference>,
  chain: Provenance[],
  recorder: Reference,
  now: string,
): Provenance {
  const last = chain.at(-1);
  const holder = last ? receiverOf(last) : undefined;
  if (last && !sameParty(req.from, holder)) {
    throw new BadRequest(
      `Chain of custody: ${evidence.description ?? `DocumentReference/${evidence.id}`} is held by ${describeParty(holder)}, not ${describeParty(req.from)}`,
    );
  }
  if (sameParty(req.from, req.to)) throw new BadRequest('A hand-over needs two different parties');
  const seq = (last ? sequenceOf(last) : 0) + 1;
  const collection = !last;
  return {
    resourceType: 'Provenance',
    // Provenance has no identifier: the link's key is a tag.
    meta: { tag: [{ system: ID.custody, code: `${evidence.id}:${seq}` }] },
    target: [{ reference: `DocumentReference/${evidence.id}/_history/${evidence.meta?.versionId}` }],
    occurredDateTime: req.occurred ?? now,
    recorded: now,
    ...(req.location ? { location: req.location as Provenance['location'] } : {}),
    activity: {
      coding: [
        {
          system: CUSTODY_ACTIVITY_SYSTEM,
          code: collection ? 'collection' : 'handover',
          display: collection ? 'Evidence collected' : 'Evidence handed over',
        },
      ],
      text: `${collection ? 'Collected by' : `Released by ${describeParty(req.from)} to`} ${describeParty(req.to)}${req.reason ? `: ${req.reason}` : ''}`,
    },
    ...(req.reason ? { reason: [{ text: req.reason }] } : {}),
    agent: [...(req.from ? [agent('released-by', req.from)] : []), agent('received-by', req.to), agent('recorded-by', recorder)],
    ...(last ? { entity: [{ role: 'source', what: { reference: `Provenance/${last.id}` } }] } : {}),
    ...(req.signature ? { signature: [req.signature] } : {}),
  };
}

export async function handOver(medplum: MedplumClient, input: unknown, requester: Reference | undefined): Promise<Parameters> {
  const recorder = staffRequester(requester);
  const req = parseHandover(input);
  const evidence = (await medplum.readReference(req.evidence)) as WithId<DocumentReference>;
  const found = await medplum.searchResources(
    'Provenance',
    { target: `DocumentReference/${evidence.id}`, _count: '1000' },
    { cache: 'no-cache' },
  );
  const link = restricted(handoverLink(req, evidence, chainOf(found), recorder, new Date().toISOString()));
  const key = link.meta?.tag?.find((t) => t.system === ID.custody);
  const saved = await medplum.createResourceIfNoneExist<Provenance>(link, `_tag=${encodeURIComponent(`${key?.system}|${key?.code}`)}`);
  // Someone else recorded link n first: this hand-over is based on a holder that is no longer current.
  if (saved.recorded !== link.recorded || !sameParty(receiverOf(saved), req.to)) {
    throw new BadRequest('Another hand-over of this evidence was recorded at the same time; reload the chain and try again');
  }
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'provenance', valueReference: { reference: `Provenance/${saved.id}` } },
      { name: 'sequence', valueInteger: sequenceOf(saved) },
      { name: 'holder', valueReference: req.to },
    ],
  };
}

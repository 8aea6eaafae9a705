/** The Communication written for one recipient of a request (pure). */
import { createReference } from '@medplum/core';
import type { Communication, CommunicationRequest, Reference } from '@medplum/fhirtypes';
import { ESCALATION_LEVEL_EXT, IN_APP_DELIVERED_EXT } from './codes.ts';
import { type Delivery, type ExternalChannel, withDeliveries } from './delivery.ts';
import { type Addresses, isPage, type Target, type Unreachable } from './recipients.ts';

export const NO_CONSENT = 'no consent on file';

const NO_ADDRESS: Record<ExternalChannel, string> = {
  sms: 'no mobile number on file',
  email: 'no email address on file',
};

export interface DraftInput {
  request: CommunicationRequest;
  target: Target;
  level: number;
  now: Date;
  /** The id of this bot run (see delivery.ts). */
  attempt: string;
  /** Which external channels the project has configured. */
  configured: Record<ExternalChannel, boolean>;
  addresses: Addresses;
  /** For family members: whether the patient's consent allows writing to them. */
  consented: boolean;
}

/** What every Communication of a request shares, whoever it is for. */
function base(request: CommunicationRequest, level: number, basedOn: Reference = createReference(request)): Communication {
  const sender = request.sender ?? request.requester;
  return {
    resourceType: 'Communication',
    status: 'in-progress',
    basedOn: [basedOn],
    ...(request.category ? { category: request.category } : {}),
    ...(request.priority ? { priority: request.priority } : {}),
    ...(request.subject ? { subject: request.subject } : {}),
    ...(request.encounter ? { encounter: request.encounter } : {}),
    ...(sender ? { sender } : {}),
    ...(isPage(request) ? { extension: [{ url: ESCALATION_LEVEL_EXT, valueInteger: level }] } : {}),
  };
}

function externalDelivery(channel: ExternalChannel, input: DraftInput): Delivery {
  if (!input.configured[channel]) return { channel, status: 'not-configured' };
  return input.addresses[channel]
    ? { channel, status: 'sending', attempt: input.attempt }
    : { channel, status: 'failed', error: NO_ADDRESS[channel] };
}

/**
 * The in-app Communication (committed before anything is sent, so the app shows it at once) with
 * the external channels it will use marked `sending`. Family members get the request's payload but
 * not its clinical reason or subject matter (`reasonCode`, `about`); without consent nothing is
 * delivered and the Communication is `not-done`.
 */
export function draftCommunication(input: DraftInput): Communication {
  const { request, target, now } = input;
  const communication: Communication = {
    ...base(request, input.level),
    recipient: [{ reference: target.reference, ...(target.display ? { display: target.display } : {}) }],
  };
  if (target.audience === 'family' && !input.consented) {
    return { ...communication, status: 'not-done', statusReason: { text: NO_CONSENT } };
  }
  if (target.audience === 'staff') {
    if (request.about) communication.about = request.about;
    if (request.reasonCode) communication.reasonCode = request.reasonCode;
  }
  if (request.payload) {
    communication.payload = request.payload;
  }
  communication.sent = now.toISOString();
  const deliveries: Delivery[] = [{ channel: 'in-app', status: 'sent' }, externalDelivery('sms', input), externalDelivery('email', input)];
  const sending = deliveries.some((d) => d.status === 'sending');
  return withDeliveries({ ...communication, status: sending ? 'in-progress' : 'completed' }, deliveries);
}

/**
 * The first-level in-app page to one staff member, written by the agent that raises the page in
 * the same transaction as its request (`basedOn` then names the request's placeholder, which the
 * transaction resolves), so the page reaches the app without waiting for this agent's own run.
 * It stays `in-progress` with only its in-app record: this agent, when it runs for the request
 * (IN_APP_DELIVERED_EXT on it), adds the SMS and email records, sends, and completes it.
 */
export function draftInAppPage(request: CommunicationRequest, basedOn: string, target: Target, now: Date): Communication {
  if (target.audience !== 'staff' || !isPage(request)) {
    throw new Error('draftInAppPage: only a page to staff is written ahead of the communication agent');
  }
  return withDeliveries(
    {
      ...base(request, 0, { reference: basedOn }),
      recipient: [{ reference: target.reference, ...(target.display ? { display: target.display } : {}) }],
      ...(request.about ? { about: request.about } : {}),
      ...(request.reasonCode ? { reasonCode: request.reasonCode } : {}),
      ...(request.payload ? { payload: request.payload } : {}),
      sent: now.toISOString(),
    },
    [{ channel: 'in-app', status: 'sent' }],
  );
}

/** The request, marked as having its first-level in-app pages written with it (see draftInAppPage). */
export function markInAppDelivered(request: CommunicationRequest): CommunicationRequest {
  const others = (request.extension ?? []).filter((e) => e.url !== IN_APP_DELIVERED_EXT);
  return { ...request, extension: [...others, { url: IN_APP_DELIVERED_EXT, valueBoolean: true }] };
}

export function inAppDelivered(request: CommunicationRequest): boolean {
  return request.extension?.some((e) => e.url === IN_APP_DELIVERED_EXT && e.valueBoolean === true) ?? false;
}

/** A `not-done` Communication for a recipient nobody could be found for (e.g. an empty on-call list). */
export function draftUnreachable(request: CommunicationRequest, unreachable: Unreachable): Communication {
  return {
    ...base(request, 0),
    status: 'not-done',
    statusReason: { text: unreachable.reason },
    recipient: [{ reference: unreachable.reference, ...(unreachable.display ? { display: unreachable.display } : {}) }],
  };
}

/** The idempotency effect of one recipient's Communication at one escalation level. */
export function effectFor(reference: string, level: number): string {
  return `to:${reference}:L${level}`;
}

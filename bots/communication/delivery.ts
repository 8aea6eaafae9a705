/**
 * Per-channel delivery records on a Communication (extension ES/StructureDefinition/delivery) and
 * the rules that keep external sends at most once per Communication.
 *
 * A Communication is created with each external channel it will use marked `sending` together with
 * the id of the attempt (the bot run) that created it. Only that run sends. A later run that finds
 * `sending` without a vendor id cannot know whether the vendor got the message before the first
 * run died, so it records `failed` ("interrupted") instead of sending again: a duplicate page is
 * avoided, and an unacknowledged stat page escalates anyway.
 */
import type { CodeableConcept, Communication, Extension } from '@medplum/fhirtypes';
import type { ChannelResult } from './channels/channel.ts';
import { DELIVERY_EXT, PARTICIPATION_MODE_SYSTEM } from './codes.ts';

export type Channel = 'in-app' | 'sms' | 'email';
export type ExternalChannel = Exclude<Channel, 'in-app'>;
export type DeliveryStatus = 'sending' | 'sent' | 'failed' | 'not-configured';

export interface Delivery {
  channel: Channel;
  status: DeliveryStatus;
  vendorId?: string;
  error?: string;
  /** The bot run that owns a `sending` record. */
  attempt?: string;
}

const MEDIUM: Record<Channel, { code: string; display: string }> = {
  'in-app': { code: 'WRITTEN', display: 'written' },
  sms: { code: 'SMSWRIT', display: 'SMS' },
  email: { code: 'EMAILWRIT', display: 'email' },
};

export const INTERRUPTED = 'interrupted while sending; not sent again, the vendor may or may not have delivered it';

function toExtension(d: Delivery): Extension {
  const parts: Extension[] = [
    { url: 'channel', valueCode: d.channel },
    { url: 'status', valueCode: d.status },
  ];
  if (d.vendorId) parts.push({ url: 'vendorId', valueString: d.vendorId });
  if (d.error) parts.push({ url: 'error', valueString: d.error });
  if (d.attempt) parts.push({ url: 'attempt', valueString: d.attempt });
  return { url: DELIVERY_EXT, extension: parts };
}

function fromExtension(e: Extension): Delivery | undefined {
  const part = (url: string) => e.extension?.find((x) => x.url === url);
  const channel = part('channel')?.valueCode as Channel | undefined;
  const status = part('status')?.valueCode as DeliveryStatus | undefined;
  if (!channel || !status) return undefined;
  const d: Delivery = { channel, status };
  const vendorId = part('vendorId')?.valueString;
  const error = part('error')?.valueString;
  const attempt = part('attempt')?.valueString;
  if (vendorId) d.vendorId = vendorId;
  if (error) d.error = error;
  if (attempt) d.attempt = attempt;
  return d;
}

export function deliveriesOf(communication: Communication): Delivery[] {
  return (communication.extension ?? []).filter((e) => e.url === DELIVERY_EXT).flatMap((e) => fromExtension(e) ?? []);
}

/** The channels that reached the recipient, as Communication.medium. */
function mediumOf(deliveries: Delivery[]): CodeableConcept[] {
  return deliveries
    .filter((d) => d.status === 'sent')
    .map((d) => ({ coding: [{ system: PARTICIPATION_MODE_SYSTEM, ...MEDIUM[d.channel] }] }));
}

/** The Communication with exactly these delivery records (other extensions kept) and the matching medium. */
export function withDeliveries(communication: Communication, deliveries: Delivery[]): Communication {
  const others = (communication.extension ?? []).filter((e) => e.url !== DELIVERY_EXT);
  const medium = mediumOf(deliveries);
  return { ...communication, extension: [...others, ...deliveries.map(toExtension)], ...(medium.length ? { medium } : {}) };
}

/** The external channels this attempt must send now, and those another attempt left unfinished. */
export function pendingSends(deliveries: Delivery[], attempt: string): { send: ExternalChannel[]; interrupted: ExternalChannel[] } {
  const send: ExternalChannel[] = [];
  const interrupted: ExternalChannel[] = [];
  for (const d of deliveries) {
    if (d.channel === 'in-app' || d.status !== 'sending' || d.vendorId) continue;
    (d.attempt === attempt ? send : interrupted).push(d.channel);
  }
  return { send, interrupted };
}

/** The records after this attempt: results for what it sent, `failed` for what an earlier attempt left unfinished. */
export function settle(
  deliveries: Delivery[],
  results: Partial<Record<ExternalChannel, ChannelResult>>,
  interrupted: ExternalChannel[],
): Delivery[] {
  return deliveries.map((d): Delivery => {
    if (d.channel === 'in-app') return d;
    const result = results[d.channel];
    if (result) {
      return result.status === 'sent'
        ? { channel: d.channel, status: 'sent', vendorId: result.vendorId }
        : { channel: d.channel, status: 'failed', error: result.error };
    }
    return interrupted.includes(d.channel) ? { channel: d.channel, status: 'failed', error: INTERRUPTED } : d;
  });
}

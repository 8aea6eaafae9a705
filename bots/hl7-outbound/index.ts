import type { BotEvent, MedplumClient } from '@medplum/core';
import type { DiagnosticReport, Encounter, Location, Observation, Patient, Practitioner, Reference, Resource } from '@medplum/fhirtypes';
import { type AdtEvent, adtEvent, buildAdt } from './adt.ts';
import { controlIdFor } from './datatypes.ts';
import { buildOru } from './oru.ts';
import type { Sender } from './segments.ts';

/**
 * The hl7-outbound bot: FHIR changes → HL7 v2 for legacy systems. Triggered by its Subscriptions
 * (Encounter create/update → ADT A01/A03/A08; final Observations and DiagnosticReports → ORU^R01),
 * it builds the message and hands it to the HL7 bridge's durable outbound queue
 * (POST {HL7_BRIDGE_URL}hl7/outbound, with the bot's own token), which delivers it over MLLP to
 * every configured destination, in order per patient, with retries and dead letters.
 *
 * Idempotent per resource version: the queue key is the version and event, and MSH-10 is derived
 * from it, so a redelivered event queues nothing new. Versions written by the HL7 inbound feed are
 * not echoed back. Project secrets: HL7_BRIDGE_URL (required), HL7_SENDING_APPLICATION,
 * HL7_SENDING_FACILITY (MSH-3/4, default EMERGISPHERE / ED).
 */

const MESSAGE_TAG_SYSTEM = 'https://emergisphere.dev/fhir/hl7v2-message';
const RESULT_STATUSES = ['final', 'amended', 'corrected'];

export interface OutboundResult {
  sent: boolean;
  reason?: string;
  messageType?: string;
  controlId?: string;
  queued?: unknown;
}

function secret(event: BotEvent, name: string): string | undefined {
  return (event.secrets?.[name] as { valueString?: string } | undefined)?.valueString || undefined;
}

/**
 * The version before this one (undefined for a create, or when the input carries no version):
 * the newest version last updated before it (not relying on the history's order).
 */
export async function previousVersion<T extends Resource>(medplum: MedplumClient, resource: T): Promise<T | undefined> {
  const { versionId, lastUpdated } = resource.meta ?? {};
  if (!versionId || !lastUpdated || !resource.id) return undefined;
  const history = await medplum.readHistory(resource.resourceType, resource.id, { count: 100 }, { cache: 'no-cache' });
  const older = (history.entry ?? [])
    .map((e) => e.resource as T | undefined)
    .filter((r): r is T => !!r && r.meta?.versionId !== versionId && (r.meta?.lastUpdated ?? '') < lastUpdated);
  return older.sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
}

/** True when this version was written by the HL7 inbound feed (its message tag is new in this version). */
export function fromHl7Inbound(current: Resource, previous: Resource | undefined): boolean {
  const tag = (r: Resource | undefined) => r?.meta?.tag?.find((t) => t.system === MESSAGE_TAG_SYSTEM)?.code;
  const now = tag(current);
  return !!now && now !== tag(previous);
}

async function read<T extends Resource>(medplum: MedplumClient, ref: Reference | undefined): Promise<T | undefined> {
  if (!ref?.reference || !/^[A-Z][A-Za-z]+\/[^/]+$/.test(ref.reference)) return undefined;
  return (await medplum.readReference(ref as Reference<T>).catch(() => undefined)) as T | undefined;
}

async function patientOf(medplum: MedplumClient, ref: Reference | undefined): Promise<Patient> {
  const patient = await read<Patient>(medplum, ref);
  if (patient?.resourceType !== 'Patient') throw new Error(`hl7-outbound needs the patient (${ref?.reference ?? 'no subject'})`);
  return patient;
}

async function encounterMessage(
  medplum: MedplumClient,
  encounter: Encounter,
  sender: Sender,
): Promise<{ message: string; key: string; event: AdtEvent } | undefined> {
  const event = adtEvent(encounter, await previousVersion(medplum, encounter));
  if (!event) return undefined;
  const patient = await patientOf(medplum, encounter.subject);
  const active = encounter.location?.find((l) => l.status === 'active') ?? encounter.location?.[0];
  const attending = encounter.participant?.find((p) => p.type?.some((t) => t.coding?.some((c) => c.code === 'ATND')));
  const refs = {
    location: await read<Location>(medplum, active?.location),
    attending: await read<Practitioner>(medplum, attending?.individual),
  };
  const key = `Encounter/${encounter.id}/_history/${encounter.meta?.versionId}:${event}`;
  return { message: buildAdt(event, encounter, patient, refs, sender, controlIdFor(key)), key, event };
}

async function resultMessage(
  medplum: MedplumClient,
  resource: Observation | DiagnosticReport,
  sender: Sender,
): Promise<{ message: string; key: string } | undefined> {
  if (!RESULT_STATUSES.includes(resource.status)) return undefined;
  const key = `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}:R01`;
  let observations: Observation[];
  let report: DiagnosticReport | undefined;
  if (resource.resourceType === 'DiagnosticReport') {
    report = resource;
    observations = (await Promise.all((resource.result ?? []).map((r) => read<Observation>(medplum, r)))).filter(
      (o): o is Observation => !!o,
    );
    if (observations.length === 0) return undefined;
  } else {
    // A result of a report travels with its report.
    const reports = await medplum.searchResources('DiagnosticReport', { result: `Observation/${resource.id}` }, { cache: 'no-cache' });
    if (reports.length) return undefined;
    observations = [resource];
  }
  const patient = await patientOf(medplum, resource.subject);
  const encounter = await read<Encounter>(medplum, resource.encounter);
  return { message: buildOru({ observations, patient, encounter, report }, sender, controlIdFor(key)), key };
}

async function submit(
  medplum: MedplumClient,
  bridgeUrl: string,
  body: { message: string; dedupeKey: string; lane: string },
): Promise<unknown> {
  const res = await fetch(new URL('hl7/outbound', bridgeUrl.endsWith('/') ? bridgeUrl : `${bridgeUrl}/`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${medplum.getAccessToken()}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  // Anything but success is thrown: the subscription delivers again (and dead-letters in the end).
  if (!res.ok) throw new Error(`the HL7 bridge answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export async function handler(
  medplum: MedplumClient,
  event: BotEvent<Encounter | Observation | DiagnosticReport>,
): Promise<OutboundResult> {
  const resource = event.input;
  if (!resource || typeof resource !== 'object' || !['Encounter', 'Observation', 'DiagnosticReport'].includes(resource.resourceType)) {
    throw new Error('hl7-outbound expects an Encounter, Observation or DiagnosticReport');
  }
  const bridgeUrl = secret(event, 'HL7_BRIDGE_URL');
  if (!bridgeUrl) {
    console.log('HL7_BRIDGE_URL is not set: no HL7 bridge to send to');
    return { sent: false, reason: 'HL7_BRIDGE_URL is not set' };
  }
  if (fromHl7Inbound(resource, await previousVersion(medplum, resource))) {
    return { sent: false, reason: 'this version came from the HL7 inbound feed' };
  }
  const sender: Sender = {
    application: secret(event, 'HL7_SENDING_APPLICATION') ?? 'EMERGISPHERE',
    facility: secret(event, 'HL7_SENDING_FACILITY') ?? 'ED',
  };
  const built =
    resource.resourceType === 'Encounter'
      ? await encounterMessage(medplum, resource, sender)
      : await resultMessage(medplum, resource, sender);
  if (!built) return { sent: false, reason: `nothing to send for ${resource.resourceType} status ${resource.status}` };
  const subject = resource.resourceType === 'Encounter' ? resource.subject : resource.subject;
  const queued = await submit(medplum, bridgeUrl, { message: built.message, dedupeKey: built.key, lane: subject?.reference ?? built.key });
  const messageType = built.message.split('\r')[0].split('|')[8]?.split('^').slice(0, 2).join('^');
  console.log(`${messageType} for ${resource.resourceType}/${resource.id} queued: ${JSON.stringify(queued)}`);
  return { sent: true, messageType, controlId: controlIdFor(built.key), queued };
}

/** Reads what delivering a request needs, in as few HTTP calls as possible (one in the common case). */
import type { MedplumClient } from '@medplum/core';
import type {
  Bundle,
  CareTeam,
  Communication,
  CommunicationRequest,
  Consent,
  Patient,
  Practitioner,
  PractitionerRole,
  Resource,
} from '@medplum/fhirtypes';
import { inAppDelivered } from './communication.ts';
import { type Addressable, type Addresses, addressesOf, referenceOf } from './recipients.ts';

/** Resources by reference string, plus the patient's active Consents once read. */
export interface Lookup {
  resources: Map<string, Resource>;
  consents?: Consent[];
}

const ADDRESSABLE = ['Practitioner', 'PractitionerRole', 'RelatedPerson', 'Patient'];
/** A team's people and, for PractitionerRoles, their Practitioners (whose contacts they fall back to). */
const TEAM_INCLUDES = '&_include=CareTeam:participant&_include:iterate=PractitionerRole:practitioner';

export function emptyLookup(): Lookup {
  return { resources: new Map() };
}

export function addToLookup(lookup: Lookup, resources: Resource[]): void {
  for (const r of resources) {
    if (r.id) lookup.resources.set(referenceOf(r), r);
  }
}

/** Runs searches (`Type?query`) in one batch (or one plain search), returning every resource found. */
export async function searchAll(medplum: MedplumClient, queries: string[]): Promise<Resource[]> {
  if (queries.length === 0) return [];
  if (queries.length === 1) {
    const [type, query] = queries[0].split('?');
    const bundle = await medplum.search(type as 'Patient', query, { cache: 'no-cache' });
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }
  const reply = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: queries.map((url) => ({ request: { method: 'GET', url } })),
  });
  return (reply.entry ?? []).flatMap((e, i) => {
    if (!e.response?.status?.startsWith('2')) {
      throw new Error(`communication: search ${queries[i]} failed with ${e.response?.status ?? 'no status'}`);
    }
    return ((e.resource as Bundle | undefined)?.entry ?? []).flatMap((x) => (x.resource ? [x.resource] : []));
  });
}

function idsByType(request: CommunicationRequest): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const r of request.recipient ?? []) {
    const [type, id] = r.reference?.split('/') ?? [];
    if (!type || !id) continue;
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  return byType;
}

function consentQuery(patient: string): string {
  return `Consent?patient=${encodeURIComponent(patient)}&status=active`;
}

/**
 * Everything a request's delivery needs: its on-call teams, and when external channels are
 * configured the recipients' contacts (and the patient's name for family texts); the patient's
 * Consents when it names family members; its Communications when they were written with it.
 */
export async function loadForRequest(medplum: MedplumClient, request: CommunicationRequest, withContacts: boolean): Promise<Lookup> {
  const byType = idsByType(request);
  const queries: string[] = [];
  const teams = byType.get('CareTeam');
  if (teams) queries.push(`CareTeam?_id=${teams.join(',')}${withContacts ? TEAM_INCLUDES : ''}`);
  if (withContacts) {
    for (const type of ADDRESSABLE) {
      const ids = byType.get(type);
      if (ids) queries.push(`${type}?_id=${ids.join(',')}${type === 'PractitionerRole' ? '&_include=PractitionerRole:practitioner' : ''}`);
    }
  }
  const patient = request.subject?.reference?.startsWith('Patient/') ? request.subject.reference : undefined;
  const family = byType.has('RelatedPerson') && patient;
  if (family) {
    queries.push(consentQuery(patient));
    if (withContacts && !byType.get('Patient')?.includes(patient.split('/')[1])) queries.push(`Patient?_id=${patient.split('/')[1]}`);
  }
  if (inAppDelivered(request)) queries.push(`Communication?based-on=${referenceOf(request)}&_count=50`);
  const lookup = emptyLookup();
  const found = await searchAll(medplum, queries);
  addToLookup(
    lookup,
    found.filter((r) => r.resourceType !== 'Consent'),
  );
  if (family) lookup.consents = found.filter((r): r is Consent => r.resourceType === 'Consent');
  return lookup;
}

/** The patient's Consents, read once (family members reached through a team were not known up front). */
export async function consentsFor(medplum: MedplumClient, lookup: Lookup, patient: string | undefined): Promise<Consent[]> {
  if (!lookup.consents) {
    lookup.consents = patient ? ((await searchAll(medplum, [consentQuery(patient)])) as Consent[]) : [];
  }
  return lookup.consents;
}

/** The request's Communications in the lookup, other than responses and `not-done` records. */
export function pagesIn(lookup: Lookup, request: CommunicationRequest): Communication[] {
  const ref = referenceOf(request);
  return [...lookup.resources.values()].filter(
    (r): r is Communication =>
      r.resourceType === 'Communication' &&
      !r.inResponseTo?.length &&
      r.status !== 'not-done' &&
      (r.basedOn ?? []).some((b) => b.reference === ref),
  );
}

export function teamsIn(lookup: Lookup): Map<string, CareTeam> {
  const teams = new Map<string, CareTeam>();
  for (const [ref, r] of lookup.resources) {
    if (r.resourceType === 'CareTeam') teams.set(ref, r);
  }
  return teams;
}

/** Contacts of a recipient (a PractitionerRole falling back to its Practitioner's). */
export function addressesIn(lookup: Lookup, reference: string, now: Date): Addresses {
  const person = lookup.resources.get(reference) as Addressable | undefined;
  const practitionerRef = person?.resourceType === 'PractitionerRole' ? (person as PractitionerRole).practitioner?.reference : undefined;
  const practitioner = practitionerRef ? (lookup.resources.get(practitionerRef) as Practitioner | undefined) : undefined;
  return addressesOf(person, practitioner, now);
}

export function givenName(lookup: Lookup, patient: string | undefined): string | undefined {
  const p = patient ? (lookup.resources.get(patient) as Patient | undefined) : undefined;
  return p?.name?.[0]?.given?.[0];
}

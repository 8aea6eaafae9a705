/**
 * Temporary identities for patients who cannot be identified (unconscious, no ID), and the merge
 * of one patient record into another (FHIR's patient merge: the merged record becomes inactive with
 * `link` replaced-by → the survivor, the survivor gets `replaces`, and everything that referred to
 * the merged record moves, in one transaction with a Provenance and an AuditEvent). Pure.
 */
import type {
  AuditEvent,
  Bundle,
  BundleEntry,
  Identifier,
  Patient,
  PatientLink,
  Provenance,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { TEMPORARY_IDENTIFIER_SYSTEM, TEMPORARY_IDENTITY_TAG } from './codes.ts';
import { demographicsOf, isIdentifiable } from './demographics.ts';

type Who = Provenance['agent'][number]['who'];
const LIFECYCLE_SYSTEM = 'http://hl7.org/fhir/iso-21089-lifecycle';

export function isTemporary(patient: Patient): boolean {
  return !!patient.meta?.tag?.some((t) => t.system === TEMPORARY_IDENTITY_TAG.system && t.code === TEMPORARY_IDENTITY_TAG.code);
}

/** A patient who needs a temporary identity: tagged so at arrival, or with nothing to identify them by. */
export function needsTemporaryIdentity(patient: Patient): boolean {
  if (patient.link?.some((l) => l.type === 'replaced-by')) return false;
  if (isTemporary(patient)) return !patient.identifier?.some((i) => i.system === TEMPORARY_IDENTIFIER_SYSTEM);
  return !isIdentifiable(demographicsOf(patient));
}

/** Four digits from the record's id: short enough to shout across a resuscitation room, stable on re-runs. */
export function temporaryNumber(id: string): string {
  let h = 0x811c9dc5;
  for (const c of id) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return String(h % 10000).padStart(4, '0');
}

export function withTemporaryIdentity<T extends Patient & { id: string }>(patient: T, prefix = 'Trauma'): T {
  const number = temporaryNumber(patient.id);
  const text = `${prefix} Unknown ${number}`;
  const tags = (patient.meta?.tag ?? []).filter(
    (t) => !(t.system === TEMPORARY_IDENTITY_TAG.system && t.code === TEMPORARY_IDENTITY_TAG.code),
  );
  return {
    ...patient,
    meta: { ...patient.meta, tag: [...tags, TEMPORARY_IDENTITY_TAG] },
    name: [{ use: 'temp', text, family: `Unknown ${number}`, given: [prefix] }, ...(patient.name ?? []).filter((n) => n.text !== text)],
    identifier: [...(patient.identifier ?? []), { use: 'temp', system: TEMPORARY_IDENTIFIER_SYSTEM, value: text }],
  };
}

export function replacedBy(patient: Patient): string | undefined {
  return patient.link?.find((l) => l.type === 'replaced-by')?.other.reference;
}

function hasLink(patient: Patient, other: string, type: PatientLink['type']): boolean {
  return !!patient.link?.some((l) => l.other.reference === other && l.type === type);
}

/** The resource with every reference to `from` pointing to `to` (whole reference strings only). */
export function moveReferences<T extends Resource>(resource: T, from: string, to: string): T {
  return JSON.parse(JSON.stringify(resource).replaceAll(JSON.stringify(from), JSON.stringify(to))) as T;
}

/** Resources that record what happened and must keep saying so: never rewritten by a merge. */
const HISTORICAL = new Set(['AuditEvent', 'Provenance']);

export interface MergeInput {
  source: Patient & { id: string };
  target: Patient & { id: string };
  /** What the source's compartment holds (e.g. from `Patient/{id}/$everything`). */
  resources: Resource[];
  /** Who decided (a clerk) or, for an automatic link, the bot. */
  decidedBy: Reference;
  bot: Reference;
  reason: string;
  now: string;
}

export interface MergePlan {
  bundle: Bundle;
  moved: string[];
}

const ifMatch = (r: Resource) => (r.meta?.versionId ? { ifMatch: `W/"${r.meta.versionId}"` } : {});
const put = (r: Resource & { id?: string }): BundleEntry => ({
  resource: r,
  request: { method: 'PUT', url: `${r.resourceType}/${r.id}`, ...ifMatch(r) },
});

export function mergePlan(input: MergeInput): MergePlan {
  const { source, target, now } = input;
  const from = `Patient/${source.id}`;
  const to = `Patient/${target.id}`;
  const entries: BundleEntry[] = [];
  const moved: string[] = [];
  const seen = new Set<string>();
  for (const resource of input.resources) {
    const key = `${resource.resourceType}/${resource.id}`;
    if (HISTORICAL.has(resource.resourceType) || resource.resourceType === 'Patient' || seen.has(key)) continue;
    seen.add(key);
    const changed = moveReferences(resource, from, to);
    if (JSON.stringify(changed) === JSON.stringify(resource)) continue;
    entries.push(put(changed));
    moved.push(key);
  }
  const known = new Set((target.identifier ?? []).map((i) => `${i.system}|${i.value}`));
  const carried: Identifier[] = (source.identifier ?? [])
    .filter((i) => !known.has(`${i.system}|${i.value}`))
    .map((i) => ({ ...i, use: 'old' as const }));
  const survivor: Patient = {
    ...target,
    identifier: [...(target.identifier ?? []), ...carried],
    link: hasLink(target, from, 'replaces') ? target.link : [...(target.link ?? []), { other: { reference: from }, type: 'replaces' }],
  };
  const merged: Patient = {
    ...source,
    active: false,
    link: hasLink(source, to, 'replaced-by') ? source.link : [...(source.link ?? []), { other: { reference: to }, type: 'replaced-by' }],
  };
  entries.push(put(merged), put(survivor));
  const activity = { coding: [{ system: LIFECYCLE_SYSTEM, code: 'merge', display: 'Merge Record Lifecycle Event' }] };
  const targets = [{ reference: from }, { reference: to }, ...moved.map((reference) => ({ reference }))];
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: targets,
    recorded: now,
    activity,
    reason: [{ text: input.reason }],
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: input.decidedBy as Who,
      },
      ...(input.decidedBy.reference !== input.bot.reference
        ? [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'performer' }] },
              who: input.bot as Who,
            },
          ]
        : []),
    ],
  };
  const audit: AuditEvent = {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110', display: 'Patient Record' },
    subtype: activity.coding,
    action: 'U',
    recorded: now,
    outcome: '0',
    outcomeDesc: `${from} merged into ${to}: ${moved.length} resource(s) moved. ${input.reason}`,
    agent: [
      { who: input.decidedBy as Who, requestor: true },
      ...(input.decidedBy.reference !== input.bot.reference ? [{ who: input.bot as Who, requestor: false }] : []),
    ],
    source: { observer: input.bot as Who },
    entity: targets.map((what) => ({ what })),
  };
  entries.push({ resource: provenance, request: { method: 'POST', url: 'Provenance' } });
  entries.push({ resource: audit, request: { method: 'POST', url: 'AuditEvent' } });
  return { bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries }, moved };
}

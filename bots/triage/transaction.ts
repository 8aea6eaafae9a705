/**
 * The triage outcome as one transaction: the resources of `triageResources`, a page to the
 * on-call physicians for ESI 1–2, and the Encounter's priority (unless a clinician's override is
 * in force). Pure. Each created resource carries the idempotency key of the triggering Task
 * version and is created conditionally on it, so a redelivered run finds its earlier results.
 * Five conditional creates and one update: within the server's limit for conditional transactions.
 */
import type { BundleEntry, CommunicationRequest, Encounter, Reference, Resource, Task } from '@medplum/fhirtypes';
import { IDEMPOTENCY_TAG_SYSTEM, idempotencyKey, withIdempotencyTag } from '../lib/idempotency.ts';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../lib/workflow.ts';
import type { TriageResources } from './fhir.ts';
import type { Vitals } from './types.ts';

/** Where each result goes in the transaction (and so in its response). */
export const TRIAGE_URNS = {
  esi: 'urn:uuid:7a1e5b0e-0001-4000-8000-000000000001',
  news2: 'urn:uuid:7a1e5b0e-0002-4000-8000-000000000002',
  qsofa: 'urn:uuid:7a1e5b0e-0003-4000-8000-000000000003',
  risk: 'urn:uuid:7a1e5b0e-0004-4000-8000-000000000004',
  page: 'urn:uuid:7a1e5b0e-0005-4000-8000-000000000005',
} as const;

export interface TriageTransaction {
  resources: TriageResources;
  encounter: Encounter & { id: string };
  /** The Task version that triggered the run. */
  trigger: Task;
  now: string;
  /** A clinician's override is in force: leave Encounter.priority alone. */
  overridden: boolean;
  /** The on-call team to page for ESI 1–2, if one is configured. */
  pageTeam?: Reference;
  vitals: Vitals;
}

function conditional(trigger: Task, effect: string, fullUrl: string, resource: Resource): BundleEntry {
  const key = idempotencyKey('triage', trigger, effect);
  return {
    fullUrl,
    resource: withIdempotencyTag(resource, key),
    request: { method: 'POST', url: resource.resourceType, ifNoneExist: `_tag=${encodeURIComponent(`${IDEMPOTENCY_TAG_SYSTEM}|${key}`)}` },
  };
}

/** A short page text: level, complaint and the vital signs that matter at a glance. */
export function pageText(level: number, encounter: Encounter, vitals: Vitals): string {
  const parts = [
    vitals.hr !== undefined ? `HR ${vitals.hr}` : '',
    vitals.sbp !== undefined ? `BP ${vitals.sbp}${vitals.dbp !== undefined ? `/${vitals.dbp}` : ''}` : '',
    vitals.spo2 !== undefined ? `SpO2 ${vitals.spo2}%` : '',
    vitals.rr !== undefined ? `RR ${vitals.rr}` : '',
  ].filter(Boolean);
  const complaint = encounter.reasonCode?.[0]?.text ?? encounter.reasonCode?.[0]?.coding?.[0]?.display ?? 'no complaint recorded';
  return `ESI ${level} arrival: ${complaint}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

export function triageTransaction(t: TriageTransaction): BundleEntry[] {
  const { resources, trigger, encounter } = t;
  const entries = [
    conditional(trigger, 'esi', TRIAGE_URNS.esi, resources.esi),
    conditional(trigger, 'news2', TRIAGE_URNS.news2, resources.news2),
    conditional(trigger, 'qsofa', TRIAGE_URNS.qsofa, resources.qsofa),
    conditional(trigger, 'risk', TRIAGE_URNS.risk, resources.riskAssessment),
  ];
  if (resources.level <= 2 && t.pageTeam) {
    const page: CommunicationRequest = {
      resourceType: 'CommunicationRequest',
      status: 'active',
      category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'page' }] }],
      priority: resources.level === 1 ? 'stat' : 'asap',
      subject: resources.esi.subject as CommunicationRequest['subject'],
      encounter: { reference: `Encounter/${encounter.id}` },
      about: [{ reference: TRIAGE_URNS.esi }, { reference: `Encounter/${encounter.id}` }],
      recipient: [t.pageTeam as NonNullable<CommunicationRequest['recipient']>[number]],
      authoredOn: t.now,
      reasonCode: [{ text: `ESI ${resources.level} at triage` }],
      payload: [{ contentString: pageText(resources.level, encounter, t.vitals) }],
    };
    entries.push(conditional(trigger, 'page', TRIAGE_URNS.page, page));
  }
  // The clinician's acuity wins: with an override in force the result is recorded, the priority left alone.
  if (!t.overridden) {
    entries.push({
      resource: { ...encounter, status: encounter.status === 'arrived' ? 'triaged' : encounter.status, priority: resources.priority },
      request: { method: 'PUT', url: `Encounter/${encounter.id}`, ifMatch: `W/"${encounter.meta?.versionId}"` },
    });
  }
  return entries;
}

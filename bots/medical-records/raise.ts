/**
 * Writes alerts: one DetectedIssue per alert, created only if none with its key exists (so the
 * workflow step and the new-order re-check never raise the same alert twice), and for a high
 * severity conflict with an order, a staff notice to the prescriber (else the on-call ED
 * physicians) through the communication agent — in one transaction per alert.
 */
import type { MedplumClient } from '@medplum/core';
import type { BundleEntry, CommunicationRequest, MedicationRequest, Reference } from '@medplum/fhirtypes';
import { COMMUNICATION_CATEGORY_SYSTEM, ES } from '../lib/workflow.ts';
import { type Alert, DETECTED_ISSUE_ID_SYSTEM, detectedIssue } from './alerts.ts';

const ISSUE_URN = 'urn:uuid:5e1f7c2a-0001-4000-8000-000000000001';
const NOTICE_URN = 'urn:uuid:5e1f7c2a-0002-4000-8000-000000000002';
const ON_CALL_SYSTEM = `${ES}/on-call`;

export interface RaiseContext {
  patient: Reference;
  encounter?: Reference;
  now: string;
  /** The orders the alerts may implicate, by "MedicationRequest/id" (for the prescriber). */
  orders: Map<string, MedicationRequest>;
}

export interface Raised {
  alert: Alert;
  /** "DetectedIssue/id" */
  issue: string;
  /** False when the alert had been raised before. */
  created: boolean;
  notice?: string;
}

/** Who hears about a conflict: the prescriber when the order names one, else the on-call ED physicians. */
export function noticeRecipient(alert: Alert, orders: Map<string, MedicationRequest>, team: Reference | undefined): Reference | undefined {
  const order = alert.implicated.map((r) => orders.get(r)).find(Boolean);
  const requester = order?.requester?.reference;
  if (requester && /^(Practitioner|PractitionerRole)\//.test(requester)) {
    return { reference: requester, ...(order?.requester?.display ? { display: order.requester.display } : {}) };
  }
  return team;
}

export function needsNotice(alert: Alert): boolean {
  return alert.severity === 'high' && alert.implicated.some((r) => r.startsWith('MedicationRequest/'));
}

function notice(alert: Alert, recipient: Reference, ctx: RaiseContext): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'staff-notice' }] }],
    priority: 'urgent',
    groupIdentifier: { system: DETECTED_ISSUE_ID_SYSTEM, value: alert.key },
    subject: ctx.patient as CommunicationRequest['subject'],
    ...(ctx.encounter ? { encounter: ctx.encounter as CommunicationRequest['encounter'] } : {}),
    about: [
      { reference: ISSUE_URN },
      ...alert.implicated.filter((r) => r.startsWith('MedicationRequest/')).map((reference) => ({ reference })),
    ],
    recipient: [recipient as NonNullable<CommunicationRequest['recipient']>[number]],
    authoredOn: ctx.now,
    reasonCode: [{ text: alert.title }],
    payload: [{ contentString: `${alert.title}. ${alert.detail} Please review the order.` }],
  };
}

function created(entry: BundleEntry | undefined): boolean {
  return !!entry?.response?.status?.startsWith('201');
}

function location(entry: BundleEntry | undefined): string | undefined {
  return entry?.response?.location?.split('/_history')[0];
}

async function onCallTeam(medplum: MedplumClient, team: string): Promise<Reference | undefined> {
  const careTeam = await medplum.searchOne('CareTeam', { identifier: `${ON_CALL_SYSTEM}|${team}` }, { cache: 'no-cache' });
  return careTeam ? { reference: `CareTeam/${careTeam.id}`, display: careTeam.name } : undefined;
}

export async function raiseAlerts(medplum: MedplumClient, alerts: Alert[], ctx: RaiseContext): Promise<Raised[]> {
  const team = alerts.some(needsNotice) ? await onCallTeam(medplum, 'ed-physician') : undefined;
  const raised: Raised[] = [];
  for (const alert of alerts) {
    const key = encodeURIComponent(`${DETECTED_ISSUE_ID_SYSTEM}|${alert.key}`);
    const entries: BundleEntry[] = [
      {
        fullUrl: ISSUE_URN,
        resource: detectedIssue(alert, ctx.patient, ctx.now),
        request: { method: 'POST', url: 'DetectedIssue', ifNoneExist: `identifier=${key}` },
      },
    ];
    const recipient = needsNotice(alert) ? noticeRecipient(alert, ctx.orders, team) : undefined;
    if (recipient) {
      entries.push({
        fullUrl: NOTICE_URN,
        resource: notice(alert, recipient, ctx),
        request: { method: 'POST', url: 'CommunicationRequest', ifNoneExist: `group-identifier=${key}` },
      });
    }
    const response = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    const [issue, page] = response.entry ?? [];
    raised.push({ alert, issue: location(issue) as string, created: created(issue), ...(page ? { notice: location(page) } : {}) });
  }
  return raised;
}

/**
 * The writes one assessment's alarm decisions call for, as one transaction (pure):
 * - a Flag per finding to notify (new: created; escalated or reminded: the open Flag updated);
 * - for critical findings about the patient one DetectedIssue with the evidence and the rationale,
 *   a page to the on-call team, and a request to start the `emergency_device` workflow;
 * - for warnings, and for the device's own trouble (battery, silence), a notice to the charge nurses.
 *
 * Every created resource is conditional on an identifier derived from the patient, the finding
 * codes and the measurements that drove them: the runs that a bundle of vital signs triggers at
 * once (one per Observation, all seeing the same data) agree on it, so they write the alert once.
 */
import type {
  BundleEntry,
  CommunicationRequest,
  DetectedIssue,
  Duration,
  Flag,
  Identifier,
  Reference,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { draftInAppPage, markInAppDelivered } from '../communication/communication.ts';
import { escalateAfterMs, withDue } from '../communication/escalation.ts';
import type { Target } from '../communication/recipients.ts';
import { COMMUNICATION_CATEGORY_SYSTEM, ES, PLAN_URL, START_WORKFLOW, stepCoding } from '../lib/workflow.ts';
import type { AlarmDecision } from './alarms.ts';
import { type AlertContext, alertDetectedIssue, alertFlag } from './fhir.ts';

export const DEVICE_ALERT_KEY_SYSTEM = `${ES}/device-alert`;
/** How long a stat page waits for an acknowledgement before the communication agent escalates it. */
export const ESCALATE_AFTER_EXTENSION = `${ES}/StructureDefinition/escalate-after`;

/** An on-call team to page, with the escalation interval it asks for (else the communication agent's default). */
export interface PageTeam {
  reference: Reference;
  escalateAfter?: Duration;
  /**
   * Who a page to the team reaches now (the communication agent's rule: the first on shift), when
   * they are all staff: their in-app pages are written with the alert, so the page is on their
   * screens when the alert commits. Else (family on the list, nobody to reach) the communication
   * agent resolves and writes them, consent checks included.
   */
  paged?: Target[];
}
/** The server runs a transaction with conditional entries in strict isolation, up to 8 entries. */
const MAX_ENTRIES = 8;
/** Room left for the DetectedIssue, the page request and the workflow request. */
const MAX_FLAGS = MAX_ENTRIES - 3;
/**
 * In-app pages written with the alert at most (a page reaches one person; a rota gap, the whole
 * list, which the communication agent then writes). Each takes a Flag's room: a finding beyond it
 * waits for the next check, the page does not.
 */
const MAX_IN_APP_PAGES = 2;

export interface AlertWrite {
  decisions: AlarmDecision[];
  context: AlertContext & { device?: Reference };
  /** The open Flags (by reference) the escalate/remind decisions update. */
  flags: Map<string, Flag>;
  /** Who to page for critical findings, and who to tell about warnings. */
  pageTeam?: PageTeam;
  noticeTeam?: Reference;
}

function episodeKey(decision: AlarmDecision, patient: string): string {
  const f = decision.finding;
  return `${patient}|${f.code}|${f.source ?? f.time ?? ''}|${decision.action}`;
}

function conditional(resource: Resource & { identifier?: Identifier[] }, value: string, fullUrl: string): BundleEntry {
  const identifier = { system: DEVICE_ALERT_KEY_SYSTEM, value };
  return {
    fullUrl,
    resource: { ...resource, identifier: [...(resource.identifier ?? []), identifier] } as Resource,
    request: {
      method: 'POST',
      url: resource.resourceType,
      ifNoneExist: `identifier=${encodeURIComponent(`${identifier.system}|${value}`)}`,
    },
  };
}

export function alertEntries(w: AlertWrite): { entries: BundleEntry[]; skipped: AlarmDecision[] } {
  const patient = w.context.patient.reference as string;
  const notify = w.decisions
    .filter((d) => d.notify && d.action !== 'suppress')
    .sort((a, b) => (a.finding.severity === b.finding.severity ? 0 : a.finding.severity === 'critical' ? -1 : 1));
  const paging = notify.some((d) => d.finding.severity === 'critical' && d.finding.kind !== 'device');
  const paged = paging && w.pageTeam?.paged && w.pageTeam.paged.length <= MAX_IN_APP_PAGES ? w.pageTeam.paged : [];
  const maxFlags = MAX_FLAGS - paged.length;
  const kept = notify.slice(0, maxFlags);
  const skipped = notify.slice(maxFlags);
  const entries: BundleEntry[] = [];
  kept.forEach((d, i) => {
    const existing = d.existing?.reference ? w.flags.get(d.existing.reference) : undefined;
    const flag = alertFlag(d, w.context, existing);
    if (existing?.id && d.action !== 'raise') {
      entries.push({ resource: flag, request: { method: 'PUT', url: `Flag/${existing.id}`, ifMatch: `W/"${existing.meta?.versionId}"` } });
    } else {
      entries.push(conditional(flag, episodeKey(d, patient), `urn:uuid:5d0b1e7a-0000-4000-8000-${String(i).padStart(12, '0')}`));
    }
  });
  // A critical patient finding is an emergency; a device's own trouble (battery, silence) goes to the nurses.
  const critical = kept.filter((d) => d.finding.severity === 'critical' && d.finding.kind !== 'device');
  const assessmentKey = critical.map((d) => episodeKey(d, patient)).join(';');
  const summary = kept.map((d) => d.finding.text).join('; ');
  if (critical.length > 0) {
    const issueUrn = 'urn:uuid:5d0b1e7a-0001-4000-8000-000000000001';
    const issue: DetectedIssue = {
      ...alertDetectedIssue(critical[0], w.context),
      detail: [summary, w.context.rationale].filter(Boolean).join('\n'),
    };
    entries.push(conditional(issue, `issue|${assessmentKey}`, issueUrn));
    if (w.pageTeam) {
      const page: CommunicationRequest = {
        resourceType: 'CommunicationRequest',
        status: 'active',
        category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'page' }] }],
        priority: 'stat',
        subject: w.context.patient,
        ...(w.context.encounter ? { encounter: w.context.encounter } : {}),
        about: [{ reference: issueUrn }],
        recipient: [w.pageTeam.reference as NonNullable<CommunicationRequest['recipient']>[number]],
        ...(w.pageTeam.escalateAfter ? { extension: [{ url: ESCALATE_AFTER_EXTENSION, valueDuration: w.pageTeam.escalateAfter }] } : {}),
        authoredOn: w.context.now,
        reasonCode: [{ text: 'critical finding from a patient device' }],
        payload: [{ contentString: `CRITICAL (device): ${summary}` }],
      };
      const pageUrn = 'urn:uuid:5d0b1e7a-0002-4000-8000-000000000002';
      const inApp = paged.length > 0;
      // Due for the escalation sweep once its first interval has passed: until then no sweep reads it.
      const due = withDue(page, new Date(Date.parse(w.context.now) + escalateAfterMs(page)));
      entries.push(conditional(inApp ? markInAppDelivered(due) : due, `page|${assessmentKey}`, pageUrn));
      if (inApp) {
        paged.forEach((target, i) => {
          const communication = draftInAppPage(page, pageUrn, target, new Date(w.context.now));
          entries.push(
            conditional(
              communication,
              `page-to|${target.reference}|${assessmentKey}`,
              `urn:uuid:5d0b1e7a-0005-4000-8000-${String(i).padStart(12, '0')}`,
            ),
          );
        });
      }
    }
    if (w.context.device) {
      const start: Task = {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        priority: 'stat',
        code: { coding: [stepCoding(START_WORKFLOW)], text: 'Start the emergency_device workflow' },
        focus: w.context.device,
        for: w.context.patient,
        ...(w.context.encounter ? { encounter: w.context.encounter } : {}),
        authoredOn: w.context.now,
        reasonReference: { reference: issueUrn },
        input: [{ type: { text: 'plan' }, valueCanonical: PLAN_URL('emergency_device') }],
      };
      entries.push(conditional(start, `workflow|${assessmentKey}`, 'urn:uuid:5d0b1e7a-0003-4000-8000-000000000003'));
    }
  } else if (kept.length > 0 && w.noticeTeam) {
    const notice: CommunicationRequest = {
      resourceType: 'CommunicationRequest',
      status: 'active',
      category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'staff-notice' }] }],
      priority: kept.some((d) => d.finding.severity === 'critical') ? 'asap' : 'urgent',
      subject: w.context.patient,
      ...(w.context.encounter ? { encounter: w.context.encounter } : {}),
      recipient: [w.noticeTeam as NonNullable<CommunicationRequest['recipient']>[number]],
      authoredOn: w.context.now,
      reasonCode: [{ text: 'device alert' }],
      payload: [{ contentString: `Device alert: ${summary}` }],
    };
    entries.push(
      conditional(notice, `notice|${kept.map((d) => episodeKey(d, patient)).join(';')}`, 'urn:uuid:5d0b1e7a-0004-4000-8000-000000000004'),
    );
  }
  return { entries, skipped };
}

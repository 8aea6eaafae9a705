/**
 * Alerts as FHIR: a Flag on the chart (the open alert, which alarm de-duplication reads back) and a
 * DetectedIssue with the finding, its evidence and the assessment's rationale. Pure: references
 * and times come in. The Flag keeps the alert's severity and last notification in extensions so
 * the next assessment can tell a duplicate from an escalation.
 */
import type { CodeableConcept, DetectedIssue, Device, Encounter, Flag, Observation, Patient, Reference } from '@medplum/fhirtypes';
import type { AlarmDecision, OpenAlert } from './alarms.ts';
import type { Severity } from './findings.ts';

export const DEVICE_ALERT_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/device-alert';
export const ALERT_SEVERITY_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/alert-severity';
export const ALERT_LAST_NOTIFIED_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/alert-last-notified';

const ISSUE_SEVERITY: Record<Severity, DetectedIssue['severity']> = { critical: 'high', warning: 'moderate', info: 'low' };

export interface AlertContext {
  patient: Reference<Patient>;
  device?: Reference<Device>;
  encounter?: Reference<Encounter>;
  /** The assessment time (ISO). */
  now: string;
  /** The Observations behind the finding. */
  evidence?: Reference<Observation>[];
  /** The assessment's rationale, kept on the DetectedIssue. */
  rationale?: string;
}

function alertCode(decision: AlarmDecision): CodeableConcept {
  return { coding: [{ system: DEVICE_ALERT_SYSTEM, code: decision.finding.code }], text: decision.finding.text };
}

/** A new or updated Flag for the decision ("raise": new; "escalate"/"remind": the existing alert, updated). */
export function alertFlag(decision: AlarmDecision, ctx: AlertContext, existing?: Flag): Flag {
  const notified = decision.notify
    ? ctx.now
    : (existing?.extension?.find((e) => e.url === ALERT_LAST_NOTIFIED_EXTENSION)?.valueDateTime ?? ctx.now);
  const others = (existing?.extension ?? []).filter((e) => e.url !== ALERT_SEVERITY_EXTENSION && e.url !== ALERT_LAST_NOTIFIED_EXTENSION);
  return {
    ...existing,
    resourceType: 'Flag',
    status: 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' }] }],
    code: alertCode(decision),
    subject: ctx.patient,
    period: { start: existing?.period?.start ?? ctx.now },
    ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
    ...(ctx.device ? { author: ctx.device } : {}),
    extension: [
      ...others,
      { url: ALERT_SEVERITY_EXTENSION, valueCode: decision.finding.severity },
      { url: ALERT_LAST_NOTIFIED_EXTENSION, valueDateTime: notified },
    ],
  };
}

export function alertDetectedIssue(decision: AlarmDecision, ctx: AlertContext): DetectedIssue {
  const f = decision.finding;
  return {
    resourceType: 'DetectedIssue',
    status: 'final',
    code: alertCode(decision),
    severity: ISSUE_SEVERITY[f.severity],
    patient: ctx.patient,
    identifiedDateTime: ctx.now,
    ...(ctx.device ? { author: ctx.device } : {}),
    ...(ctx.evidence?.length ? { evidence: [{ detail: ctx.evidence }] } : {}),
    detail: [`${f.severity.toUpperCase()}: ${f.text}`, `Alarm: ${decision.action} — ${decision.reason}`, ctx.rationale]
      .filter(Boolean)
      .join('\n'),
  };
}

/** The open alerts that alarms.ts compares new findings with, read back from active Flags. */
export function openAlertsFromFlags(flags: Flag[]): OpenAlert[] {
  const alerts: OpenAlert[] = [];
  for (const flag of flags) {
    if (flag.status !== 'active') continue;
    const code = flag.code.coding?.find((c) => c.system === DEVICE_ALERT_SYSTEM)?.code;
    const severity = flag.extension?.find((e) => e.url === ALERT_SEVERITY_EXTENSION)?.valueCode as Severity | undefined;
    if (!code || !severity || !flag.period?.start) continue;
    alerts.push({
      code,
      severity,
      raisedAt: flag.period.start,
      lastNotifiedAt: flag.extension?.find((e) => e.url === ALERT_LAST_NOTIFIED_EXTENSION)?.valueDateTime,
      reference: flag.id ? `Flag/${flag.id}` : undefined,
    });
  }
  return alerts;
}

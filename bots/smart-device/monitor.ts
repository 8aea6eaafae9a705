/**
 * The smart-device agent's reads and writes: checking a patient's vital signs when a device sends
 * one, checking devices' health, and keeping a device's last-seen time current.
 */
import { getStatus, type MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Bundle, Device, Encounter, Flag, Observation, Patient, Reference } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import { ageInDays, DAYS_PER_YEAR } from '../triage/age.ts';
import { type AlarmDecision, decideAlarms } from './alarms.ts';
import { alertEntries, ESCALATE_AFTER_EXTENSION, type PageTeam } from './alert-transaction.ts';
import { assessVitals, type VitalsAssessment } from './assess.ts';
import { checkDeviceHealth, DEVICE_LAST_SEEN_EXTENSION, deviceStatus } from './device-health.ts';
import { DEVICE_ALERT_SYSTEM, openAlertsFromFlags } from './fhir.ts';
import type { Finding } from './findings.ts';

const ON_CALL_SYSTEM = `${ES}/on-call`;
/** Vital signs this old still count for the current set and for trends. */
const WINDOW_MINUTES = 60;
/** The Device's last-seen time is written at most this often (the Observations themselves are the record). */
const LAST_SEEN_EVERY_MS = 60_000;

export interface MonitorResult {
  patient?: string;
  critical: boolean;
  decisions: { code: string; severity: string; action: string; reason: string }[];
  written: string[];
  rationale?: string;
}

const summarize = (decisions: AlarmDecision[]) =>
  decisions.map((d) => ({ code: d.finding.code, severity: d.finding.severity, action: d.action, reason: d.reason }));

/** The first on-call team found, with its own escalation interval for pages (extension on the CareTeam), if set. */
async function onCallTeam(medplum: MedplumClient, ...teams: string[]): Promise<PageTeam | undefined> {
  for (const team of teams) {
    const found = await medplum.searchOne('CareTeam', { identifier: `${ON_CALL_SYSTEM}|${team}` }, { cache: 'no-cache' });
    if (found) {
      const escalateAfter = found.extension?.find((e) => e.url === ESCALATE_AFTER_EXTENSION)?.valueDuration;
      return { reference: { reference: `CareTeam/${found.id}`, display: found.name }, ...(escalateAfter ? { escalateAfter } : {}) };
    }
  }
  return undefined;
}

async function activeEdEncounter(medplum: MedplumClient, patient: string): Promise<Reference<Encounter> | undefined> {
  const encounter = await medplum.searchOne(
    'Encounter',
    { subject: patient, status: 'arrived,triaged,in-progress', _sort: '-date' },
    { cache: 'no-cache' },
  );
  return encounter ? { reference: `Encounter/${encounter.id}` } : undefined;
}

async function activeAlertFlags(medplum: MedplumClient, patient: string): Promise<Flag[]> {
  return medplum.searchResources(
    'Flag',
    { subject: patient, status: 'active', code: `${DEVICE_ALERT_SYSTEM}|`, _count: '100' },
    { cache: 'no-cache' },
  );
}

/** Decides on `findings` against the patient's open alerts and writes what the decisions call for. */
async function raiseAlerts(
  medplum: MedplumClient,
  patient: string,
  findings: Finding[],
  context: { now: string; device?: Reference<Device>; rationale?: string; evidence?: Reference<Observation>[] },
): Promise<{ decisions: AlarmDecision[]; written: string[] }> {
  const alerting = findings.filter((f) => f.severity !== 'info');
  // Decisions are made per finding, so normal readings (most of a stream) need no Flag search.
  if (alerting.length === 0) {
    return { decisions: [], written: [] };
  }
  const flags = await activeAlertFlags(medplum, patient);
  const decisions = decideAlarms(alerting, openAlertsFromFlags(flags), context.now);
  if (!decisions.some((d) => d.notify)) {
    return { decisions, written: [] };
  }
  const critical = decisions.some((d) => d.notify && d.finding.severity === 'critical' && d.finding.kind !== 'device');
  const [encounter, pageTeam, noticeTeam] = await Promise.all([
    activeEdEncounter(medplum, patient),
    critical ? onCallTeam(medplum, 'rapid-response', 'ed-physician') : Promise.resolve(undefined),
    onCallTeam(medplum, 'charge-nurse'),
  ]);
  const { entries, skipped } = alertEntries({
    decisions,
    context: { patient: { reference: patient } as Reference<Patient>, encounter, ...context },
    flags: new Map(flags.map((f) => [`Flag/${f.id}`, f])),
    pageTeam,
    noticeTeam: noticeTeam?.reference,
  });
  if (skipped.length) {
    console.log(
      `[warn] ${skipped.length} more finding(s) for ${patient} wait for the next check: ${skipped.map((d) => d.finding.code).join(', ')}`,
    );
  }
  if (entries.length === 0) {
    return { decisions, written: [] };
  }
  try {
    const response = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries } satisfies Bundle);
    return { decisions, written: (response.entry ?? []).map((e) => e.response?.location?.split('/_history')[0] ?? '').filter(Boolean) };
  } catch (err) {
    // An open Flag changed under us: a concurrent check updated it; its decision stands.
    if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 412) {
      console.log(`alerts for ${patient} were updated concurrently; nothing more to write`);
      return { decisions, written: [] };
    }
    throw err;
  }
}

/**
 * A device sent a vital sign: assess the patient's latest set (NEWS2, thresholds, trends) and raise
 * what needs raising. One search brings the recent vitals with the patient and the devices.
 */
export async function checkObservation(medplum: MedplumClient, observation: Observation): Promise<MonitorResult> {
  const patient = observation.subject?.reference;
  if (!patient?.startsWith('Patient/')) {
    return { critical: false, decisions: [], written: [], rationale: 'not about a patient: nothing to assess' };
  }
  const now = new Date().toISOString();
  const effective = observation.effectiveDateTime ?? observation.effectiveInstant ?? observation.issued ?? now;
  const since = new Date(Math.min(Date.parse(effective), Date.parse(now)) - WINDOW_MINUTES * 60_000).toISOString();
  const bundle = (await medplum.search(
    'Observation',
    new URLSearchParams([
      ['subject', patient],
      ['category', 'vital-signs'],
      ['date', `ge${since}`],
      ['_count', '500'],
      ['_include', 'Observation:patient'],
      ['_include', 'Observation:device'],
    ]),
    { cache: 'no-cache' },
  )) as Bundle<Observation | Patient | Device>;
  const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  const observations = resources.filter((r): r is Observation => r.resourceType === 'Observation');
  const subject = resources.find((r): r is Patient => r.resourceType === 'Patient');
  const devices = resources.filter((r): r is Device => r.resourceType === 'Device');
  const days = ageInDays(subject?.birthDate, now);
  const assessment: VitalsAssessment = assessVitals(observations, { ageYears: days === undefined ? undefined : days / DAYS_PER_YEAR });
  const device = observation.device?.reference?.startsWith('Device/') ? (observation.device as Reference<Device>) : undefined;
  const { decisions, written } = await raiseAlerts(medplum, patient, assessment.findings, {
    now,
    device,
    rationale: assessment.rationale,
    evidence: [{ reference: `Observation/${observation.id}` }],
  });
  const sender = devices.find((d) => `Device/${d.id}` === device?.reference);
  if (sender) {
    await touchLastSeen(medplum, sender, effective);
  }
  if (written.length) {
    console.log(
      `${patient}: ${decisions
        .filter((d) => d.notify)
        .map((d) => `${d.action} ${d.finding.code}`)
        .join(', ')} → ${written.join(', ')}`,
    );
  }
  return { patient, critical: assessment.critical, decisions: summarize(decisions), written, rationale: assessment.rationale };
}

/** Records when the device last sent data, at most once a minute; a concurrent update is fine to lose. */
export async function touchLastSeen(medplum: MedplumClient, device: Device, seen: string): Promise<void> {
  const previous = device.extension?.find((e) => e.url === DEVICE_LAST_SEEN_EXTENSION)?.valueDateTime;
  if (previous && Date.parse(seen) - Date.parse(previous) < LAST_SEEN_EVERY_MS) {
    return;
  }
  const extension = [
    ...(device.extension ?? []).filter((e) => e.url !== DEVICE_LAST_SEEN_EXTENSION),
    { url: DEVICE_LAST_SEEN_EXTENSION, valueDateTime: seen },
  ];
  try {
    await medplum.updateResource<Device>({ ...device, extension }, { headers: { 'If-Match': `W/"${device.meta?.versionId}"` } });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) throw err;
  }
}

/** Battery and silence of one linked device → alerts. */
export async function checkDevice(medplum: MedplumClient, device: Device, now = new Date().toISOString()): Promise<MonitorResult> {
  const patient = device.patient?.reference;
  if (!patient || device.status === 'inactive' || device.status === 'entered-in-error') {
    return { critical: false, decisions: [], written: [], rationale: 'device not in use by a patient' };
  }
  const findings = checkDeviceHealth(deviceStatus(device), now).map((f) => ({ ...f, source: `Device/${device.id}` }));
  const label = device.deviceName?.[0]?.name ?? device.serialNumber ?? `Device/${device.id}`;
  const { decisions, written } = await raiseAlerts(medplum, patient, findings, {
    now,
    device: { reference: `Device/${device.id}` },
    rationale: `Device ${label}: ${findings.map((f) => f.text).join('; ') || 'healthy'}`,
  });
  return { patient, critical: false, decisions: summarize(decisions), written };
}

/** The periodic sweep: every device linked to a patient. */
export async function checkAllDevices(medplum: MedplumClient): Promise<MonitorResult[]> {
  const devices = await medplum.searchResources('Device', { 'patient:missing': 'false', _count: '1000' }, { cache: 'no-cache' });
  const now = new Date().toISOString();
  const results: MonitorResult[] = [];
  for (const device of devices) {
    results.push(await checkDevice(medplum, device, now));
  }
  return results;
}

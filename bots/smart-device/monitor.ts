/**
 * The smart-device agent's reads and writes: checking a patient's vital signs when a device sends
 * one that could raise an alert (its Subscription leaves quiet readings out, see reading-filter.ts),
 * and the periodic sweep: devices' health, their last-seen time, and the trends quiet readings can end.
 */
import { getStatus, type MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Bundle, CareTeam, Device, Encounter, Flag, Observation, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { teamTargets } from '../communication/recipients.ts';
import { batchGet, isAnswered } from '../lib/batch-read.ts';
import { retryOnConflict } from '../lib/conflict-retry.ts';
import { ES } from '../lib/workflow.ts';
import { ageInDays, DAYS_PER_YEAR } from '../triage/age.ts';
import { type AlarmDecision, decideAlarms } from './alarms.ts';
import { alertEntries, ESCALATE_AFTER_EXTENSION, type PageTeam } from './alert-transaction.ts';
import { assessVitals, type VitalsAssessment } from './assess.ts';
import { checkDeviceHealth, DEVICE_LAST_SEEN_EXTENSION, deviceStatus } from './device-health.ts';
import { DEVICE_ALERT_SYSTEM, openAlertsFromFlags } from './fhir.ts';
import type { Finding } from './findings.ts';
import { SWEEP_TRENDS } from './reading-filter.ts';
import { detectTrends, type TrendRule } from './trends.ts';
import { extractSamples, hasNextPage, LOINC, truncationNote, VITAL_CODES, VITALS_LIMIT } from './vitals.ts';

const ON_CALL_SYSTEM = `${ES}/on-call`;
/** Vital signs this old still count for the current set and for trends. */
const WINDOW_MINUTES = 60;
/** The Device's last-seen time is written at most this often (the Observations themselves are the record). */
const LAST_SEEN_EVERY_MS = 60_000;
/**
 * The sweep (cron, every minute) checks trends at readings this recent; older ones were checked by
 * an earlier sweep. A few minutes of overlap cover a late or skipped tick.
 */
const SWEEP_LOOKBACK_MINUTES = 3;
/**
 * The sweep is hundreds of requests a minute. All at once (eight checks at a time), a critical
 * reading's alert queued behind them on the server for the seconds the sweep ran: bench:device's
 * slowest pages fell in its window. So it is paced: each phase (devices, then patients' trends)
 * spreads its checks over up to SWEEP_SPREAD_MS, no more than SWEEP_GAP_MAX_MS apart (a small ward
 * is done at once), two at a time when they fall behind.
 */
const SWEEP_PARALLEL = 2;
const SWEEP_SPREAD_MS = 6_000;
const SWEEP_GAP_MAX_MS = 100;
/**
 * The sweep stops starting new checks after this long, well within the bot's 30 s timeout: a run
 * that overran would have its worker replaced, failing the critical-reading checks running beside it.
 * Devices are taken in random order, so under load each is still reached within a few ticks.
 */
const SWEEP_BUDGET_MS = 15_000;

export interface MonitorResult {
  patient?: string;
  critical: boolean;
  decisions: { code: string; severity: string; action: string; reason: string }[];
  written: string[];
  rationale?: string;
}

const summarize = (decisions: AlarmDecision[]) =>
  decisions.map((d) => ({ code: d.finding.code, severity: d.finding.severity, action: d.action, reason: d.reason }));

const TEAMS = { page: ['rapid-response', 'ed-physician'], notice: ['charge-nurse'] };

/** The on-call teams an alert may go to (all of TEAMS), as one search. */
function teamsQuery(): string {
  const names = [...TEAMS.page, ...TEAMS.notice];
  return `CareTeam?identifier=${encodeURIComponent(names.map((n) => `${ON_CALL_SYSTEM}|${n}`).join(','))}&_count=20`;
}

/**
 * The first of `names` among the on-call teams, with its own escalation interval for pages
 * (extension on the CareTeam), if set, and who a page to it reaches now when they are all staff.
 */
export function pickTeam(teams: CareTeam[], names: string[], now: string): PageTeam | undefined {
  for (const name of names) {
    const found = teams.find((t) => t.identifier?.some((i) => i.system === ON_CALL_SYSTEM && i.value === name));
    if (found) {
      const escalateAfter = found.extension?.find((e) => e.url === ESCALATE_AFTER_EXTENSION)?.valueDuration;
      const paged = teamTargets(found, true, new Date(now));
      return {
        reference: { reference: `CareTeam/${found.id}`, display: found.name },
        ...(escalateAfter ? { escalateAfter } : {}),
        ...(paged.length > 0 && paged.every((t) => t.audience === 'staff') ? { paged } : {}),
      };
    }
  }
  return undefined;
}

function encounterQuery(patient: string): string {
  return `Encounter?subject=${encodeURIComponent(patient)}&status=arrived,triaged,in-progress&_sort=-date&_count=1`;
}

function flagsQuery(patient: string): string {
  return `Flag?subject=${encodeURIComponent(patient)}&status=active&code=${encodeURIComponent(`${DEVICE_ALERT_SYSTEM}|`)}&_count=100`;
}

/** What deciding on and writing alerts reads: the open alert Flags, the ED visit, the on-call teams. */
export interface AlertReads {
  flags: Flag[];
  encounter?: Reference<Encounter>;
  teams: CareTeam[];
}

/** Runs GET requests as one batch (one round trip), returning each one's Bundle; a failed entry fails the check. */
async function readAll(medplum: MedplumClient, urls: string[]): Promise<Bundle[]> {
  const entries = await batchGet(medplum, urls);
  return urls.map((url, i) => {
    const entry = entries[i];
    if (!isAnswered(entry) || entry.resource.resourceType !== 'Bundle') {
      throw new Error(`smart-device: ${url.split('?')[0]} search failed with ${entry?.response?.status ?? 'no reply'}`);
    }
    return entry.resource as Bundle;
  });
}

const resourcesOf = <T extends Resource>(bundle: Bundle | undefined): T[] =>
  (bundle?.entry ?? []).flatMap((e) => (e.resource ? [e.resource as T] : []));

function alertReadsFrom(flags: Bundle, encounter: Bundle, teams: Bundle): AlertReads {
  const visit = resourcesOf<Encounter>(encounter)[0];
  return {
    flags: resourcesOf<Flag>(flags),
    encounter: visit ? { reference: `Encounter/${visit.id}` } : undefined,
    teams: resourcesOf<CareTeam>(teams),
  };
}

async function loadAlertReads(medplum: MedplumClient, patient: string): Promise<AlertReads> {
  const [flags, encounter, teams] = await readAll(medplum, [flagsQuery(patient), encounterQuery(patient), teamsQuery()]);
  return alertReadsFrom(flags, encounter, teams);
}

type AlertContext = { now: string; device?: Reference<Device>; rationale?: string; evidence?: Reference<Observation>[] };

/**
 * Decides on `findings` against the patient's open alerts and writes what the decisions call for.
 * Checks of one patient run concurrently (several devices, a burst of readings), and their alert
 * transactions (conditional creates: SERIALIZABLE) can conflict; the loser decides again at once
 * on fresh reads, seeing the winner's Flags, instead of failing into the subscription's retry.
 */
async function raiseAlerts(
  medplum: MedplumClient,
  patient: string,
  findings: Finding[],
  context: AlertContext,
  /** Already read with the vitals (checkObservation); else read here, only when a finding alerts. */
  reads?: AlertReads,
): Promise<{ decisions: AlarmDecision[]; written: string[] }> {
  return retryOnConflict((n) => raiseAlertsOnce(medplum, patient, findings, context, n === 1 ? reads : undefined), {
    attempts: 4,
    maxDelayMs: 25,
  });
}

async function raiseAlertsOnce(
  medplum: MedplumClient,
  patient: string,
  findings: Finding[],
  context: AlertContext,
  reads?: AlertReads,
): Promise<{ decisions: AlarmDecision[]; written: string[] }> {
  const alerting = findings.filter((f) => f.severity !== 'info');
  // Decisions are made per finding, so normal readings (most of a stream) need no Flag search.
  if (alerting.length === 0) {
    return { decisions: [], written: [] };
  }
  const { flags, encounter, teams } = reads ?? (await loadAlertReads(medplum, patient));
  const decisions = decideAlarms(alerting, openAlertsFromFlags(flags), context.now);
  if (!decisions.some((d) => d.notify)) {
    return { decisions, written: [] };
  }
  const critical = decisions.some((d) => d.notify && d.finding.severity === 'critical' && d.finding.kind !== 'device');
  const { entries, skipped } = alertEntries({
    decisions,
    context: { patient: { reference: patient } as Reference<Patient>, encounter, ...context },
    flags: new Map(flags.map((f) => [`Flag/${f.id}`, f])),
    pageTeam: critical ? pickTeam(teams, TEAMS.page, context.now) : undefined,
    noticeTeam: pickTeam(teams, TEAMS.notice, context.now)?.reference,
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
 * what needs raising. One batch brings the recent vitals, the patient and the sending device, and what
 * an alert needs (open alert Flags, the ED visit, the on-call teams), so a critical reading's page
 * is committed after two round trips: this batch and the alert transaction.
 */
export async function checkObservation(medplum: MedplumClient, observation: Observation): Promise<MonitorResult> {
  const patient = observation.subject?.reference;
  if (!patient?.startsWith('Patient/')) {
    return { critical: false, decisions: [], written: [], rationale: 'not about a patient: nothing to assess' };
  }
  const now = new Date().toISOString();
  const effective = observation.effectiveDateTime ?? observation.effectiveInstant ?? observation.issued ?? now;
  const since = new Date(Math.min(Date.parse(effective), Date.parse(now)) - WINDOW_MINUTES * 60_000).toISOString();
  const vitals = new URLSearchParams([
    ['subject', patient],
    ['category', 'vital-signs'],
    ['date', `ge${since}`],
    // The vitals as they stood when this reading was taken: a later reading (often quiet, so never
    // sent to this agent) must not hide it — under load this run may start seconds after it.
    ['date', `le${effective}`],
    ['_sort', '-date'],
    ['_count', String(VITALS_LIMIT)],
  ]);
  const device = observation.device?.reference?.startsWith('Device/') ? (observation.device as Reference<Device>) : undefined;
  // The patient and the sending device by id, not as _include of the vitals: the server resolves
  // an _include by evaluating the parameter's FHIRPath on every one of up to 500 Observations.
  const [bundle, flags, encounter, teams, subjectBundle, deviceBundle] = await readAll(medplum, [
    `Observation?${vitals}`,
    flagsQuery(patient),
    encounterQuery(patient),
    teamsQuery(),
    `Patient?_id=${encodeURIComponent(patient.slice('Patient/'.length))}`,
    ...(device ? [`Device?_id=${encodeURIComponent((device.reference as string).slice('Device/'.length))}`] : []),
  ]);
  const reads = alertReadsFrom(flags, encounter, teams);
  const observations = resourcesOf<Observation>(bundle).filter((r) => r.resourceType === 'Observation');
  const subject = resourcesOf<Patient>(subjectBundle)[0];
  const sender = resourcesOf<Device>(deviceBundle)[0];
  const days = ageInDays(subject?.birthDate, now);
  const assessed = assessVitals(observations, { ageYears: days === undefined ? undefined : days / DAYS_PER_YEAR });
  const note = truncationNote(observations.length, hasNextPage(bundle), WINDOW_MINUTES);
  const assessment: VitalsAssessment = note ? { ...assessed, rationale: `${assessed.rationale}\n${note}` } : assessed;
  // The last-seen write is independent of the alert: both at once.
  const [{ decisions, written }] = await Promise.all([
    raiseAlerts(
      medplum,
      patient,
      assessment.findings,
      { now, device, rationale: assessment.rationale, evidence: [{ reference: `Observation/${observation.id}` }] },
      reads,
    ),
    sender ? touchLastSeen(medplum, sender, effective) : undefined,
  ]);
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

/**
 * Records when the device last sent data, at most once a minute; a concurrent update is fine to
 * lose. Returns the updated Device when it wrote one.
 */
export async function touchLastSeen(medplum: MedplumClient, device: Device, seen: string): Promise<Device | undefined> {
  const previous = device.extension?.find((e) => e.url === DEVICE_LAST_SEEN_EXTENSION)?.valueDateTime;
  if (previous && Date.parse(seen) - Date.parse(previous) < LAST_SEEN_EVERY_MS) {
    return undefined;
  }
  const extension = [
    ...(device.extension ?? []).filter((e) => e.url !== DEVICE_LAST_SEEN_EXTENSION),
    { url: DEVICE_LAST_SEEN_EXTENSION, valueDateTime: seen },
  ];
  try {
    return await medplum.updateResource<Device>({ ...device, extension }, { headers: { 'If-Match': `W/"${device.meta?.versionId}"` } });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) throw err;
    return undefined;
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

/**
 * The newest reading the device sent since it was last seen (or within a day), which the sweep
 * uses for silence and last-seen now that quiet readings do not run the bot.
 */
async function newestReading(medplum: MedplumClient, device: Device, now: string): Promise<Observation | undefined> {
  const known = deviceStatus(device).lastSeen;
  const dayAgo = Date.parse(now) - 86_400_000;
  const since = new Date(known ? Math.max(Date.parse(known), dayAgo) : dayAgo).toISOString();
  return medplum.searchOne('Observation', { device: `Device/${device.id}`, date: `ge${since}`, _sort: '-date' }, { cache: 'no-cache' });
}

const observationTime = (obs: Observation): string | undefined =>
  obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.end ?? obs.issued;

/**
 * The trend rules a quiet reading can end (reading-filter.ts), at the patient's newest simple
 * reading of each parameter from the last SWEEP_LOOKBACK_MINUTES: one search for that reading and
 * one for the extreme value in the rule's window before it (both indexed, one row each), instead
 * of running the bot on every reading. Two batches: the newest readings, then the extremes.
 */
export async function sweepTrends(
  medplum: MedplumClient,
  patient: string,
  now: string,
  rules: TrendRule[] = SWEEP_TRENDS,
): Promise<Finding[]> {
  const since = new Date(Date.parse(now) - SWEEP_LOOKBACK_MINUTES * 60_000).toISOString();
  const codes = rules.map((rule) =>
    Object.entries(VITAL_CODES)
      .filter(([, v]) => v.key === rule.parameter)
      .map(([c]) => `${LOINC}|${c}`)
      .join(','),
  );
  const first = (bundle: Bundle) => resourcesOf<Observation>(bundle)[0];
  // Every rule's newest reading in one batch, then the extremes before those in another.
  const lasts = (
    await readAll(
      medplum,
      codes.map(
        (code) => `Observation?${new URLSearchParams({ subject: patient, code, date: `ge${since}`, _sort: '-date', _count: '1' })}`,
      ),
    )
  ).map(first);
  const wanted = rules.flatMap((rule, i) => {
    const last = lasts[i];
    const lastTime = last && observationTime(last);
    if (!last || !lastTime) return [];
    const from = new Date(Date.parse(lastTime) - rule.withinMinutes * 60_000).toISOString();
    const query = new URLSearchParams([
      ['subject', patient],
      ['code', codes[i]],
      ['date', `ge${from}`],
      ['date', `le${lastTime}`],
      ['_sort', rule.direction === 'fall' ? '-value-quantity' : 'value-quantity'],
      ['_count', '1'],
    ]);
    return [{ rule, last, url: `Observation?${query}` }];
  });
  if (wanted.length === 0) return [];
  const extremes = (
    await readAll(
      medplum,
      wanted.map((w) => w.url),
    )
  ).map(first);
  return wanted.flatMap(({ rule, last }, i) => {
    const extreme = extremes[i];
    return !extreme || extreme.id === last.id ? [] : detectTrends(extractSamples([extreme, last]).samples, [rule]);
  });
}

/** The evidence behind a finding from the sweep ("Observation/id", without a component or sample suffix). */
const evidenceOf = (findings: Finding[]): Reference<Observation>[] =>
  [...new Set(findings.flatMap((f) => (f.source?.startsWith('Observation/') ? [f.source.split(/[#[]/)[0]] : [])))].map((reference) => ({
    reference,
  }));

/**
 * The periodic sweep: every device linked to a patient — its last-seen time (kept on the Device),
 * battery and silence — and, for patients whose device sent data lately, the trends that quiet
 * readings can end. A few devices at a time, so a large ward stays within the bot's timeout.
 */
export async function checkAllDevices(medplum: MedplumClient): Promise<MonitorResult[]> {
  const devices = await medplum.searchResources('Device', { 'patient:missing': 'false', _count: '1000' }, { cache: 'no-cache' });
  const now = new Date().toISOString();
  const results: MonitorResult[] = [];
  const active = new Map<string, Reference<Device>>();
  const recent = Date.parse(now) - SWEEP_LOOKBACK_MINUTES * 60_000;
  const deadline = Date.now() + SWEEP_BUDGET_MS;
  let skipped = 0;
  const shuffled = devices.map((d) => ({ d, k: Math.random() })).sort((a, b) => a.k - b.k);
  await paced(shuffled, async ({ d: device }) => {
    if (Date.now() > deadline) {
      skipped++;
      return;
    }
    let current: Device = device;
    const inUse = device.status !== 'inactive' && device.status !== 'entered-in-error';
    const newest = inUse ? await newestReading(medplum, device, now) : undefined;
    const seen = newest && observationTime(newest);
    if (seen) {
      current = (await touchLastSeen(medplum, device, seen)) ?? device;
      const patient = device.patient?.reference;
      if (patient && Date.parse(seen) >= recent) active.set(patient, { reference: `Device/${device.id}` });
    }
    results.push(await checkDevice(medplum, current, now));
  });
  await paced([...active], async ([patient, device]) => {
    if (Date.now() > deadline) {
      skipped++;
      return;
    }
    const findings = await sweepTrends(medplum, patient, now);
    if (findings.length === 0) return;
    const { decisions, written } = await raiseAlerts(medplum, patient, findings, {
      now,
      device,
      rationale: `Trend check of the newest readings: ${findings.map((f) => f.text).join('; ')}`,
      evidence: evidenceOf(findings),
    });
    results.push({ patient, critical: findings.some((f) => f.severity === 'critical'), decisions: summarize(decisions), written });
  });
  if (skipped > 0) console.log(`[warn] sweep out of time: ${skipped} device/patient check(s) left to the next tick`);
  return results;
}

/** Runs `work` on each item, the i-th starting no earlier than i gaps after the first (see SWEEP_SPREAD_MS). */
async function paced<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  const gap = Math.min(SWEEP_GAP_MAX_MS, SWEEP_SPREAD_MS / Math.max(1, items.length));
  const start = Date.now();
  let next = 0;
  let failed = false;
  const lane = async () => {
    // A failure fails the sweep: the other lane starts nothing more after it.
    while (next < items.length && !failed) {
      const i = next++;
      const wait = start + i * gap - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (failed) return;
      await work(items[i]).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SWEEP_PARALLEL, items.length) }, lane));
}

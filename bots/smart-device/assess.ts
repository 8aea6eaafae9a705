/**
 * The smart-device check of one patient's vital signs: NEWS2 from the latest set (the triage
 * module's scoring, not a copy), absolute thresholds and trends. Critical = any critical finding;
 * the handler then raises a Flag and a DetectedIssue, starts `emergency_device` and pages — through
 * the alarm de-duplication in alarms.ts.
 */
import type { Observation } from '@medplum/fhirtypes';
import { type News2Result, news2 } from '../triage/news2.ts';
import { news2Line } from '../triage/rationale.ts';
import { type Finding, SEVERITY_RANK } from './findings.ts';
import { checkThresholds, type ThresholdRule } from './thresholds.ts';
import { DEFAULT_TRENDS, detectTrends, type TrendRule } from './trends.ts';
import { extractSamples, type IgnoredData, latestVitalSet, type VitalKey, type VitalSet } from './vitals.ts';

export interface PatientContext {
  ageYears?: number;
  /** NEWS2 SpO2 scale 2 (confirmed hypercapnic respiratory failure). */
  hypercapnicRespiratoryFailure?: boolean;
  pregnant?: boolean;
}

export interface AssessSettings {
  /** Readings older than this are not used for the current set; default 60 min. */
  windowMinutes?: number;
  /** Worst sample of a series within this span; default 60 s. */
  seriesWindowSeconds?: number;
  thresholds?: ThresholdRule[];
  trends?: TrendRule[];
}

export interface VitalsAssessment {
  /** The assessment time (the newest sample's, unless given). */
  at: string | undefined;
  vitals: VitalSet;
  news2: News2Result;
  findings: Finding[];
  critical: boolean;
  rationale: string;
  ignored: IgnoredData[];
  stale: VitalKey[];
  unresolvedMembers: string[];
}

/** NEWS2 is validated from 16 years; for children it is reported but raises no finding. */
const NEWS2_MIN_AGE = 16;

function news2Findings(n: News2Result, ageYears: number | undefined, vitals: VitalSet): Finding[] {
  if (n.score === null || n.band === null || n.band === 'low' || (ageYears !== undefined && ageYears < NEWS2_MIN_AGE)) return [];
  const times = Object.values(vitals)
    .map((r) => r?.time)
    .filter((t): t is string => !!t)
    .sort();
  const severity = n.band === 'high' ? 'critical' : 'warning';
  const bound = n.complete ? '' : ' (lower bound: some parameters not measured)';
  return [
    {
      code: `news2:${n.band}`,
      kind: 'news2',
      severity,
      text: `NEWS2 ${n.score}, ${n.band}${bound}: ${n.response}`,
      values: { score: n.score, band: n.band, complete: n.complete },
      time: times[times.length - 1],
    },
  ];
}

export function assessVitals(
  observations: Observation[],
  patient: PatientContext = {},
  settings: AssessSettings = {},
  at?: string,
): VitalsAssessment {
  const extraction = extractSamples(observations);
  const scale = patient.hypercapnicRespiratoryFailure ? 2 : 1;
  const {
    set,
    stale,
    at: when,
  } = latestVitalSet(extraction.samples, {
    at,
    windowMinutes: settings.windowMinutes,
    seriesWindowSeconds: settings.seriesWindowSeconds,
    spo2Scale: scale,
  });
  const score = news2({
    rr: set.rr?.value,
    spo2: set.spo2?.value,
    onOxygen: set.onOxygen?.value,
    sbp: set.sbp?.value,
    hr: set.hr?.value,
    temp: set.temp?.value,
    mentalStatus: set.consciousness?.avpu,
    scale,
    ageYears: patient.ageYears,
    pregnant: patient.pregnant,
  });
  const findings = [
    ...checkThresholds(set, { ageYears: patient.ageYears, spo2Scale: scale, rules: settings.thresholds }),
    ...detectTrends(extraction.samples, settings.trends ?? DEFAULT_TRENDS, when),
    ...news2Findings(score, patient.ageYears, set),
  ].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
  const critical = findings.some((f) => f.severity === 'critical');

  const lines = [
    critical ? 'CRITICAL vital signs' : findings.length > 0 ? 'Abnormal vital signs' : 'No abnormal vital signs',
    ...findings.map((f) => `• [${f.severity}] ${f.text}${f.source ? ` (${f.source} at ${f.time})` : ''}`),
    news2Line(score),
  ];
  if (stale.length > 0) lines.push(`· Older than ${settings.windowMinutes ?? 60} min, not used: ${stale.join(', ')}`);
  for (const i of extraction.ignored) lines.push(`· Ignored ${i.source}: ${i.reason}`);
  return {
    at: when,
    vitals: set,
    news2: score,
    findings,
    critical,
    rationale: lines.join('\n'),
    ignored: extraction.ignored,
    stale,
    unresolvedMembers: extraction.unresolvedMembers,
  };
}

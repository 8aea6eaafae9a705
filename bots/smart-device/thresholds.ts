/**
 * Absolute thresholds on the latest vital signs. The defaults are data and can be replaced per
 * deployment. Adults (from 16 years, where NEWS2 is validated): "critical" at every value NEWS2
 * scores 3 — a single red score calls for an urgent response (RCP 2017) — and "warning" at the
 * 2-point values. Children: NEWS2 does not apply, so the ESI v4 danger-zone heart and respiratory
 * rates by age band warn, and hypoxaemia and PALS hypotension are critical.
 */
import { ageBand, pediatricHypotensionLimit, resolveAge } from '../triage/age.ts';
import type { Finding, Severity } from './findings.ts';
import type { VitalKey, VitalSet } from './vitals.ts';

export interface ThresholdRule {
  code: string;
  parameter: Exclude<VitalKey, 'o2Flow' | 'fio2'>;
  /** Fires when value < below, or value > above (strict), or value ≤ atMost / ≥ atLeast. */
  below?: number;
  above?: number;
  atMost?: number;
  atLeast?: number;
  severity: Severity;
  label: string;
  /** Applies from this age, and below that age (years); unknown age counts as adult. */
  minAgeYears?: number;
  belowAgeYears?: number;
  /** SpO2 rules for one NEWS2 scale only. */
  spo2Scale?: 1 | 2;
}

const ADULT = 16;

export const DEFAULT_THRESHOLDS: ThresholdRule[] = [
  { code: 'rr-low', parameter: 'rr', atMost: 8, severity: 'critical', label: 'respiratory rate ≤ 8/min', minAgeYears: ADULT },
  { code: 'rr-high', parameter: 'rr', atLeast: 25, severity: 'critical', label: 'respiratory rate ≥ 25/min', minAgeYears: ADULT },
  { code: 'rr-raised', parameter: 'rr', atLeast: 21, severity: 'warning', label: 'respiratory rate 21–24/min', minAgeYears: ADULT },
  { code: 'spo2-low', parameter: 'spo2', atMost: 91, severity: 'critical', label: 'SpO2 ≤ 91 %', minAgeYears: ADULT, spo2Scale: 1 },
  { code: 'spo2-reduced', parameter: 'spo2', atMost: 93, severity: 'warning', label: 'SpO2 92–93 %', minAgeYears: ADULT, spo2Scale: 1 },
  {
    code: 'spo2-low',
    parameter: 'spo2',
    atMost: 83,
    severity: 'critical',
    label: 'SpO2 ≤ 83 % (scale 2)',
    minAgeYears: ADULT,
    spo2Scale: 2,
  },
  {
    code: 'spo2-reduced',
    parameter: 'spo2',
    atMost: 85,
    severity: 'warning',
    label: 'SpO2 84–85 % (scale 2)',
    minAgeYears: ADULT,
    spo2Scale: 2,
  },
  { code: 'sbp-low', parameter: 'sbp', atMost: 90, severity: 'critical', label: 'systolic BP ≤ 90 mmHg', minAgeYears: ADULT },
  { code: 'sbp-high', parameter: 'sbp', atLeast: 220, severity: 'critical', label: 'systolic BP ≥ 220 mmHg', minAgeYears: ADULT },
  { code: 'sbp-reduced', parameter: 'sbp', atMost: 100, severity: 'warning', label: 'systolic BP 91–100 mmHg', minAgeYears: ADULT },
  { code: 'hr-low', parameter: 'hr', atMost: 40, severity: 'critical', label: 'heart rate ≤ 40/min', minAgeYears: ADULT },
  { code: 'hr-high', parameter: 'hr', atLeast: 131, severity: 'critical', label: 'heart rate ≥ 131/min', minAgeYears: ADULT },
  { code: 'hr-raised', parameter: 'hr', atLeast: 111, severity: 'warning', label: 'heart rate 111–130/min', minAgeYears: ADULT },
  { code: 'temp-low', parameter: 'temp', atMost: 35.0, severity: 'critical', label: 'temperature ≤ 35.0 °C', minAgeYears: ADULT },
  { code: 'temp-high', parameter: 'temp', atLeast: 39.1, severity: 'warning', label: 'temperature ≥ 39.1 °C', minAgeYears: ADULT },
  {
    code: 'consciousness',
    parameter: 'consciousness',
    atLeast: 1,
    severity: 'critical',
    label: 'responds only to voice, pain or not at all (AVPU V/P/U)',
  },
  { code: 'spo2-low', parameter: 'spo2', below: 90, severity: 'critical', label: 'SpO2 < 90 %', belowAgeYears: ADULT },
  { code: 'spo2-reduced', parameter: 'spo2', below: 92, severity: 'warning', label: 'SpO2 < 92 % (ESI danger zone)', belowAgeYears: ADULT },
];

function applies(rule: ThresholdRule, ageYears: number | undefined, spo2Scale: 1 | 2): boolean {
  const age = ageYears ?? ADULT;
  if (rule.minAgeYears !== undefined && age < rule.minAgeYears) return false;
  if (rule.belowAgeYears !== undefined && age >= rule.belowAgeYears) return false;
  return rule.spo2Scale === undefined || rule.spo2Scale === spo2Scale;
}

function fires(rule: ThresholdRule, v: number): boolean {
  return (
    (rule.below !== undefined && v < rule.below) ||
    (rule.above !== undefined && v > rule.above) ||
    (rule.atMost !== undefined && v <= rule.atMost) ||
    (rule.atLeast !== undefined && v >= rule.atLeast)
  );
}

/** Age-derived rules for children: ESI danger-zone HR/RR and PALS hypotension. */
function pediatricRules(ageYears: number): ThresholdRule[] {
  const age = resolveAge(undefined, ageYears);
  const band = ageBand(age);
  const rules: ThresholdRule[] = [
    {
      code: 'hr-high',
      parameter: 'hr',
      above: band.hr,
      severity: 'warning',
      label: `heart rate > ${band.hr}/min (ESI danger zone, ${band.label})`,
    },
    {
      code: 'rr-high',
      parameter: 'rr',
      above: band.rr,
      severity: 'warning',
      label: `respiratory rate > ${band.rr}/min (ESI danger zone, ${band.label})`,
    },
  ];
  const hypotension = pediatricHypotensionLimit(age);
  if (hypotension !== undefined) {
    rules.push({
      code: 'sbp-low',
      parameter: 'sbp',
      below: hypotension,
      severity: 'critical',
      label: `systolic BP < ${hypotension} mmHg (PALS hypotension)`,
    });
  }
  return rules;
}

export interface ThresholdOptions {
  ageYears?: number;
  spo2Scale?: 1 | 2;
  /** Replaces DEFAULT_THRESHOLDS. */
  rules?: ThresholdRule[];
}

/** One finding per parameter: the most severe rule that fires. */
export function checkThresholds(set: VitalSet, options: ThresholdOptions = {}): Finding[] {
  const scale = options.spo2Scale ?? 1;
  const rules = [...(options.rules ?? DEFAULT_THRESHOLDS)].filter((r) => applies(r, options.ageYears, scale));
  if (options.ageYears !== undefined && options.ageYears < ADULT) rules.push(...pediatricRules(options.ageYears));
  const findings: Finding[] = [];
  for (const parameter of ['rr', 'spo2', 'sbp', 'hr', 'temp', 'consciousness'] as const) {
    const reading = set[parameter];
    if (!reading) continue;
    const hits = rules.filter((r) => r.parameter === parameter && fires(r, reading.value));
    const rule = hits.find((r) => r.severity === 'critical') ?? hits[0];
    if (!rule) continue;
    const shown = parameter === 'consciousness' && set.consciousness ? set.consciousness.avpu : reading.value;
    findings.push({
      code: `threshold:${rule.code}`,
      kind: 'threshold',
      severity: rule.severity,
      text: `${rule.label}: ${shown}${reading.worstOfSeries ? ' (worst of the recent series)' : ''}`,
      values: { [parameter]: shown },
      time: reading.time,
      source: reading.source,
    });
  }
  return findings;
}

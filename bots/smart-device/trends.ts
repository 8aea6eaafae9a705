/**
 * Trends over a time series of samples: a parameter that moved by at least `delta` within
 * `withinMinutes`, measured from the extreme earlier value in the window to the latest sample.
 */
import type { Finding, Severity } from './findings.ts';
import type { VitalKey, VitalSample } from './vitals.ts';

export interface TrendRule {
  code: string;
  parameter: VitalKey;
  direction: 'fall' | 'rise';
  delta: number;
  withinMinutes: number;
  severity: Severity;
  label: string;
}

export const DEFAULT_TRENDS: TrendRule[] = [
  // Issue 5's example: desaturation of 4 points in 10 minutes precedes deterioration.
  { code: 'spo2-falling', parameter: 'spo2', direction: 'fall', delta: 4, withinMinutes: 10, severity: 'critical', label: 'SpO2 falling' },
  // A fall of > 40 mmHg from baseline is hypotension in the SCCM/ESICM sepsis definitions (2001).
  {
    code: 'sbp-falling',
    parameter: 'sbp',
    direction: 'fall',
    delta: 40,
    withinMinutes: 60,
    severity: 'critical',
    label: 'systolic BP falling',
  },
  // No published standard for rate of change; 30/min in 15 min flags a rise of two NEWS2 cells (local, tunable).
  { code: 'hr-rising', parameter: 'hr', direction: 'rise', delta: 30, withinMinutes: 15, severity: 'warning', label: 'heart rate rising' },
  // Likewise local: RR + 8/min in 30 min moves a normal rate into the NEWS2 3-point cell.
  {
    code: 'rr-rising',
    parameter: 'rr',
    direction: 'rise',
    delta: 8,
    withinMinutes: 30,
    severity: 'warning',
    label: 'respiratory rate rising',
  },
];

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** Evaluates each rule at the latest sample of its parameter (at or before `at`, default the newest sample). */
export function detectTrends(samples: VitalSample[], rules: TrendRule[] = DEFAULT_TRENDS, at?: string): Finding[] {
  const atMs = at ? Date.parse(at) : Number.POSITIVE_INFINITY;
  const findings: Finding[] = [];
  for (const rule of rules) {
    const series = samples.filter((s) => s.key === rule.parameter && s.ms <= atMs).sort((a, b) => a.ms - b.ms);
    const last = series[series.length - 1];
    if (!last) continue;
    const from = last.ms - rule.withinMinutes * 60_000;
    let reference: VitalSample | undefined;
    for (const s of series) {
      if (s.ms < from || s === last) continue;
      if (!reference || (rule.direction === 'fall' ? s.value > reference.value : s.value < reference.value)) reference = s;
    }
    if (!reference) continue;
    const change = rule.direction === 'fall' ? reference.value - last.value : last.value - reference.value;
    if (change < rule.delta) continue;
    const minutes = (last.ms - reference.ms) / 60_000;
    findings.push({
      code: `trend:${rule.code}`,
      kind: 'trend',
      severity: rule.severity,
      text: `${rule.label}: ${fmt(reference.value)} → ${fmt(last.value)} (${rule.direction === 'fall' ? '−' : '+'}${fmt(change)} in ${minutes.toFixed(1)} min; rule ≥ ${rule.delta} in ${rule.withinMinutes} min)`,
      values: { from: reference.value, to: last.value, change, minutes: Math.round(minutes * 10) / 10 },
      time: last.time,
      source: last.source,
    });
  }
  return findings;
}

/**
 * Which device readings the smart-device bot has to see as they arrive, as the FHIRPath criteria
 * of its Observation Subscription (subscriptions.json; a test keeps the two identical).
 *
 * Why most readings need no assessment: the bot raises an alert from NEWS2 (aggregate, or a single
 * red parameter), from absolute thresholds, or from a trend. A simple reading whose own NEWS2
 * sub-score is 0 only replaces the previous value of its parameter, which scored 0 or more, so it
 * cannot raise the aggregate (it may lower it: a lower band after an improvement is no new hazard
 * and is announced with the next assessed reading), cannot be a red score, and — the thresholds being set at NEWS2 2/3
 * cells for adults and at ESI danger-zone / PALS values for children, all outside the 0 cells —
 * fires no threshold. What such a reading can still complete is a trend within the normal range
 * (say heart rate 55 → 88 in 15 minutes): SpO2 is kept out of the quiet range where a 4-point fall
 * can end (≤ 96 %, as no SpO2 exceeds 100 %), and the other trend rules that can end inside a
 * quiet range are evaluated by the bot's periodic sweep (monitor.ts, SWEEP_TRENDS) instead.
 *
 * A "quiet" reading: one LOINC vital-sign code of the table below, a plain valueQuantity in the
 * bot's canonical UCUM unit, no components, no members, value inside the range. Everything else
 * (panels, series, other units or codes, consciousness, oxygen) goes to the bot as before.
 */
import { DEFAULT_TRENDS, type TrendRule } from './trends.ts';
import { LOINC, UCUM, type VitalKey } from './vitals.ts';

export interface QuietRange {
  key: VitalKey;
  /** LOINC codes of the parameter (see VITAL_CODES). */
  codes: string[];
  /** UCUM codes accepted without conversion. */
  units: string[];
  /** Inclusive raw bounds inside the parameter's NEWS2 0 cell (values are rounded as charted before scoring). */
  min: number;
  max: number;
}

// biome-ignore format: one row per parameter
export const QUIET_RANGES: QuietRange[] = [
  { key: 'hr', codes: ['8867-4'], units: ['/min', '{beats}/min'], min: 51, max: 90 },       // NEWS2 pulse 51–90
  { key: 'rr', codes: ['9279-1'], units: ['/min', '{breaths}/min'], min: 12, max: 20 },     // NEWS2 respiration 12–20
  { key: 'spo2', codes: ['59408-5', '2708-6'], units: ['%'], min: 97, max: 100 },           // NEWS2 ≥ 96 (scale 1), minus 96: a 100 → 96 fall is a trend
  { key: 'sbp', codes: ['8480-6'], units: ['mm[Hg]'], min: 111, max: 219 },                 // NEWS2 systolic 111–219
  { key: 'temp', codes: ['8310-5', '8331-1'], units: ['Cel'], min: 36.1, max: 38.0 },       // NEWS2 temperature 36.1–38.0
];

/** The highest value a parameter can physically take, where one bounds a trend (SpO2 is a percentage). */
const CEILING: Partial<Record<VitalKey, number>> = { spo2: 100 };

/** Whether a trend rule can end at a quiet reading of its parameter (then the sweep must evaluate it). */
export function trendCanEndQuiet(rule: TrendRule, ranges: QuietRange[] = QUIET_RANGES): boolean {
  const range = ranges.find((r) => r.key === rule.parameter);
  if (!range) return false;
  if (rule.direction === 'fall') {
    // The reading ends a fall only if some earlier value was ≥ it + delta.
    const ceiling = CEILING[rule.parameter];
    return ceiling === undefined || range.min + rule.delta <= ceiling;
  }
  return true;
}

/** Trend rules the periodic sweep evaluates, as quiet readings that may end them do not reach the bot. */
export const SWEEP_TRENDS: TrendRule[] = DEFAULT_TRENDS.filter((rule) => trendCanEndQuiet(rule));

const quoted = (values: string[]) => values.map((v) => `'${v}'`).join(' | ');

// Medplum's FHIRPath evaluates both sides of `and`/`or`, so every operand must be safe on any
// Observation (no singleton-only operator on a collection that may hold several items).

function quietExpression(ranges: QuietRange[]): string {
  const q = '%current.value.ofType(Quantity)';
  const rows = ranges.map(
    (r) =>
      `(%current.code.coding.where(system = '${LOINC}' and (${r.codes.map((c) => `code = '${c}'`).join(' or ')})).exists() ` +
      `and ${q}.code in (${quoted(r.units)}) ` +
      `and ${q}.value >= ${r.min} and ${q}.value <= ${r.max})`,
  );
  return (
    `%current.component.empty() and %current.hasMember.empty() and ${q}.value.exists() and ${q}.code.exists() ` +
    `and %current.code.coding.where(system = '${LOINC}').code.distinct().count() = 1 ` +
    `and (${q}.system.empty() or ${q}.system = '${UCUM}') and (${rows.join(' or ')})`
  );
}

/**
 * The Subscription's FHIRPath criteria: a reading from a device that is not quiet. `iif` sends a
 * reading whose quiet test is empty (a shape the test did not foresee) to the bot too.
 */
export function assessmentCriteria(ranges: QuietRange[] = QUIET_RANGES): string {
  return `%current.device.exists() and iif(${quietExpression(ranges)}, false, true)`;
}

/**
 * qSOFA (Sepsis-3, Singer et al., JAMA 2016): respiratory rate ≥ 22/min, altered mentation,
 * systolic BP ≤ 100 mmHg; one point each, ≥ 2 = high risk of poor outcome in suspected infection.
 * An unmeasured criterion is reported as unknown, so a low score with gaps is a lower bound.
 */
import type { Avpu } from './types.ts';

export const QSOFA_RR_MIN = 22;
export const QSOFA_SBP_MAX = 100;

const RR_RULE = `RR ≥ ${QSOFA_RR_MIN}/min`;
const MENTATION_RULE = 'altered mentation (AVPU below A or new confusion)';
const SBP_RULE = `SBP ≤ ${QSOFA_SBP_MAX} mmHg`;

export type QsofaCriterionName = 'respiratoryRate' | 'alteredMentation' | 'systolicBP';

export interface QsofaCriterion {
  name: QsofaCriterionName;
  /** true/false, or null when not measured. */
  met: boolean | null;
  value: number | string | null;
  rule: string;
}

export interface QsofaInput {
  rr?: number;
  sbp?: number;
  mentalStatus?: Avpu;
  newConfusion?: boolean;
}

export interface QsofaResult {
  score: number;
  high: boolean;
  /** Whether the unknown criteria could still make it high (score + unknown ≥ 2). */
  couldBeHigh: boolean;
  criteria: QsofaCriterion[];
  missing: QsofaCriterionName[];
}

export function qsofa(input: QsofaInput): QsofaResult {
  const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : undefined);
  const rr = finite(input.rr);
  const sbp = finite(input.sbp);
  // Sepsis-3 scores GCS < 15; AVPU below A, or new confusion, implies it.
  let mentation: boolean | null = null;
  let mentationValue: string | null = null;
  if (input.newConfusion === true) {
    mentation = true;
    mentationValue = 'new confusion';
  } else if (input.mentalStatus !== undefined) {
    mentation = input.mentalStatus !== 'A';
    mentationValue = input.mentalStatus;
  }
  const criteria: QsofaCriterion[] = [
    { name: 'respiratoryRate', met: rr === undefined ? null : rr >= QSOFA_RR_MIN, value: rr ?? null, rule: RR_RULE },
    { name: 'alteredMentation', met: mentation, value: mentationValue, rule: MENTATION_RULE },
    { name: 'systolicBP', met: sbp === undefined ? null : sbp <= QSOFA_SBP_MAX, value: sbp ?? null, rule: SBP_RULE },
  ];
  const score = criteria.filter((c) => c.met === true).length;
  const missing = criteria.filter((c) => c.met === null).map((c) => c.name);
  return { score, high: score >= 2, couldBeHigh: score + missing.length >= 2, criteria, missing };
}

/**
 * NEWS2 (Royal College of Physicians, 2017): seven parameters, SpO2 scale 1 or 2, aggregate
 * score and clinical-response band. Missing parameters are listed, never scored as normal:
 * with any missing, the score and band are lower bounds.
 */
import type { Avpu } from './types.ts';

export type News2Parameter = 'respirationRate' | 'spo2' | 'airOrOxygen' | 'systolicBP' | 'pulse' | 'consciousness' | 'temperature';
export type News2Band = 'low' | 'low-medium' | 'medium' | 'high';

export interface News2Input {
  rr?: number;
  spo2?: number;
  onOxygen?: boolean;
  sbp?: number;
  hr?: number;
  temp?: number;
  mentalStatus?: Avpu;
  newConfusion?: boolean;
  /** 2 only for confirmed hypercapnic respiratory failure (clinician's choice); default 1. */
  scale?: 1 | 2;
  /** For the "not validated" notes only: NEWS2 was not validated under 16 years or in pregnancy. */
  ageYears?: number;
  pregnant?: boolean;
}

export interface News2ParameterScore {
  parameter: News2Parameter;
  value: number | string | boolean;
  score: number;
  /** The chart cell that matched, e.g. "21–24". */
  cell: string;
}

export interface News2Result {
  /** Sum of the measured parameters; null when nothing was measured. A lower bound when incomplete. */
  score: number | null;
  band: News2Band | null;
  scale: 1 | 2;
  complete: boolean;
  parameterScores: News2ParameterScore[];
  missing: News2Parameter[];
  /** A single parameter scored 3 (the "red score"). */
  singleParameter3: boolean;
  /** RCP clinical response for the band. */
  response: string;
  notes: string[];
}

export const NEWS2_PARAMETERS: readonly News2Parameter[] = [
  'respirationRate',
  'spo2',
  'airOrOxygen',
  'systolicBP',
  'pulse',
  'consciousness',
  'temperature',
];

interface Cell {
  /** Inclusive upper bound of the (rounded) value. */
  upTo: number;
  score: number;
  label: string;
}

// The chart's rows, lowest values first. Values are rounded as charted (whole numbers, temperature
// to 0.1 °C) before lookup, so a cell's bounds are exact.
const RESPIRATION: Cell[] = [
  { upTo: 8, score: 3, label: '≤ 8' },
  { upTo: 11, score: 1, label: '9–11' },
  { upTo: 20, score: 0, label: '12–20' },
  { upTo: 24, score: 2, label: '21–24' },
  { upTo: Infinity, score: 3, label: '≥ 25' },
];
const SPO2_SCALE1: Cell[] = [
  { upTo: 91, score: 3, label: '≤ 91' },
  { upTo: 93, score: 2, label: '92–93' },
  { upTo: 95, score: 1, label: '94–95' },
  { upTo: Infinity, score: 0, label: '≥ 96' },
];
const SPO2_SCALE2_LOW: Cell[] = [
  { upTo: 83, score: 3, label: '≤ 83' },
  { upTo: 85, score: 2, label: '84–85' },
  { upTo: 87, score: 1, label: '86–87' },
  { upTo: 92, score: 0, label: '88–92' },
];
const SPO2_SCALE2_ON_OXYGEN: Cell[] = [
  { upTo: 94, score: 1, label: '93–94 on oxygen' },
  { upTo: 96, score: 2, label: '95–96 on oxygen' },
  { upTo: Infinity, score: 3, label: '≥ 97 on oxygen' },
];
const SYSTOLIC: Cell[] = [
  { upTo: 90, score: 3, label: '≤ 90' },
  { upTo: 100, score: 2, label: '91–100' },
  { upTo: 110, score: 1, label: '101–110' },
  { upTo: 219, score: 0, label: '111–219' },
  { upTo: Infinity, score: 3, label: '≥ 220' },
];
const PULSE: Cell[] = [
  { upTo: 40, score: 3, label: '≤ 40' },
  { upTo: 50, score: 1, label: '41–50' },
  { upTo: 90, score: 0, label: '51–90' },
  { upTo: 110, score: 1, label: '91–110' },
  { upTo: 130, score: 2, label: '111–130' },
  { upTo: Infinity, score: 3, label: '≥ 131' },
];
const TEMPERATURE: Cell[] = [
  { upTo: 35.0, score: 3, label: '≤ 35.0' },
  { upTo: 36.0, score: 1, label: '35.1–36.0' },
  { upTo: 38.0, score: 0, label: '36.1–38.0' },
  { upTo: 39.0, score: 1, label: '38.1–39.0' },
  { upTo: Infinity, score: 2, label: '≥ 39.1' },
];

function lookup(cells: Cell[], value: number): Cell {
  return cells.find((c) => value <= c.upTo) ?? cells[cells.length - 1];
}

const whole = (v: number): number => Math.round(v);
const tenth = (v: number): number => Math.round(v * 10) / 10;

export interface CellScore {
  score: number;
  cell: string;
}

export function scoreRespirationRate(rr: number): CellScore {
  const c = lookup(RESPIRATION, whole(rr));
  return { score: c.score, cell: c.label };
}

/** SpO2 on scale 1, or scale 2 (where the score also depends on air/oxygen; unknown is scored as air, a lower bound). */
export function scoreSpo2(spo2: number, scale: 1 | 2 = 1, onOxygen?: boolean): CellScore {
  const v = whole(spo2);
  if (scale === 1) {
    const c = lookup(SPO2_SCALE1, v);
    return { score: c.score, cell: c.label };
  }
  if (v <= 92) {
    const c = lookup(SPO2_SCALE2_LOW, v);
    return { score: c.score, cell: c.label };
  }
  if (onOxygen === true) {
    const c = lookup(SPO2_SCALE2_ON_OXYGEN, v);
    return { score: c.score, cell: c.label };
  }
  return { score: 0, cell: onOxygen === false ? '≥ 93 on air' : '≥ 93, air/oxygen not recorded (scored as air)' };
}

export function scoreAirOrOxygen(onOxygen: boolean): CellScore {
  return onOxygen ? { score: 2, cell: 'oxygen' } : { score: 0, cell: 'air' };
}

export function scoreSystolicBP(sbp: number): CellScore {
  const c = lookup(SYSTOLIC, whole(sbp));
  return { score: c.score, cell: c.label };
}

export function scorePulse(hr: number): CellScore {
  const c = lookup(PULSE, whole(hr));
  return { score: c.score, cell: c.label };
}

export function scoreTemperature(temp: number): CellScore {
  const c = lookup(TEMPERATURE, tenth(temp));
  return { score: c.score, cell: c.label };
}

/** Alert scores 0; new confusion, V, P or U score 3. Undefined when not assessed. */
export function scoreConsciousness(mentalStatus: Avpu | undefined, newConfusion: boolean | undefined): CellScore | undefined {
  if (newConfusion === true) return { score: 3, cell: 'new confusion' };
  if (mentalStatus === undefined) return undefined;
  return mentalStatus === 'A' ? { score: 0, cell: 'alert' } : { score: 3, cell: mentalStatus };
}

const RESPONSES: Record<News2Band, string> = {
  low: 'ward-based response (assessment by a registered nurse)',
  'low-medium': 'urgent ward-based response',
  medium: 'key threshold for urgent response',
  high: 'urgent or emergency response',
};

/** RCP bands: 0–4 low (a 3 in any single parameter: low-medium), 5–6 medium, ≥ 7 high. */
export function news2Band(score: number, singleParameter3: boolean): News2Band {
  if (score >= 7) return 'high';
  if (score >= 5) return 'medium';
  return singleParameter3 ? 'low-medium' : 'low';
}

export function news2(input: News2Input): News2Result {
  const scale = input.scale ?? 1;
  const scores: News2ParameterScore[] = [];
  const missing: News2Parameter[] = [];
  const add = (parameter: News2Parameter, value: number | string | boolean | undefined, s: CellScore | undefined) => {
    if (value === undefined || s === undefined) missing.push(parameter);
    else scores.push({ parameter, value, score: s.score, cell: s.cell });
  };
  const num = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : undefined);
  const rr = num(input.rr);
  const spo2 = num(input.spo2);
  const sbp = num(input.sbp);
  const hr = num(input.hr);
  const temp = num(input.temp);
  add('respirationRate', rr, rr === undefined ? undefined : scoreRespirationRate(rr));
  add('spo2', spo2, spo2 === undefined ? undefined : scoreSpo2(spo2, scale, input.onOxygen));
  add('airOrOxygen', input.onOxygen, input.onOxygen === undefined ? undefined : scoreAirOrOxygen(input.onOxygen));
  add('systolicBP', sbp, sbp === undefined ? undefined : scoreSystolicBP(sbp));
  add('pulse', hr, hr === undefined ? undefined : scorePulse(hr));
  const consciousness = scoreConsciousness(input.mentalStatus, input.newConfusion);
  add('consciousness', consciousness?.cell, consciousness);
  add('temperature', temp, temp === undefined ? undefined : scoreTemperature(temp));

  const notes: string[] = [];
  if (input.ageYears !== undefined && input.ageYears < 16) notes.push('NEWS2 is not validated under 16 years (RCP 2017)');
  if (input.pregnant) notes.push('NEWS2 is not validated in pregnancy (RCP 2017)');
  if (scores.length === 0) {
    return { score: null, band: null, scale, complete: false, parameterScores: [], missing, singleParameter3: false, response: '', notes };
  }
  const score = scores.reduce((sum, p) => sum + p.score, 0);
  const singleParameter3 = scores.some((p) => p.score === 3);
  const band = news2Band(score, singleParameter3);
  return {
    score,
    band,
    scale,
    complete: missing.length === 0,
    parameterScores: scores,
    missing,
    singleParameter3,
    response: RESPONSES[band],
    notes,
  };
}

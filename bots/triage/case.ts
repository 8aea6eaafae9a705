/**
 * The offline triage case format (one JSON object per line of a .jsonl file):
 *
 *   { "age", "sex", "chiefComplaint", "arrivalMode", "injury", "mentalStatus": "A|V|P|U",
 *     "painScore", "vitals": { "sbp", "dbp", "hr", "rr", "temp", "spo2" } }
 *
 * Any field may be missing. Also accepted: "ageDays", "pregnant", "immunocompromised",
 * "immunizationsIncomplete", "newConfusion", "hypercapnicRespiratoryFailure", vitals "onOxygen" and
 * "glucose" (mg/dL). "age" is years (fractions allowed) or a string with a unit: "10d", "6w", "4mo", "2y".
 * A field with an unusable value is reported as a warning and treated as not recorded: a patient is
 * never dropped from triage because one field is wrong.
 */
import { DAYS_PER_YEAR } from './age.ts';
import { triage } from './triage.ts';
import type { Avpu, TriageInput, Vitals } from './types.ts';

export type ParsedCase = { ok: true; input: TriageInput; warnings: string[] } | { ok: false; error: string };

const VITAL_FIELDS = ['sbp', 'dbp', 'hr', 'rr', 'temp', 'spo2', 'glucose'] as const;
const UNIT_DAYS: Record<string, number> = {
  d: 1,
  day: 1,
  days: 1,
  w: 7,
  wk: 7,
  week: 7,
  weeks: 7,
  m: 30.44,
  mo: 30.44,
  month: 30.44,
  months: 30.44,
  y: DAYS_PER_YEAR,
  yr: DAYS_PER_YEAR,
  year: DAYS_PER_YEAR,
  years: DAYS_PER_YEAR,
};
const AVPU_WORDS: Record<string, Avpu> = {
  a: 'A',
  alert: 'A',
  v: 'V',
  voice: 'V',
  verbal: 'V',
  p: 'P',
  pain: 'P',
  u: 'U',
  unresponsive: 'U',
};

function number(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function bool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|yes|y)$/i.test(value.trim())) return true;
  if (typeof value === 'string' && /^(false|no|n)$/i.test(value.trim())) return false;
  return undefined;
}

/** Age in days from the "age" field: years as a number, or a number with a unit. */
export function parseAgeDays(value: unknown): number | undefined {
  const years = number(value);
  if (years !== undefined) return years >= 0 ? years * DAYS_PER_YEAR : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value);
  const unit = m ? UNIT_DAYS[m[2].toLowerCase()] : undefined;
  return m && unit ? Number(m[1]) * unit : undefined;
}

export function parseTriageCase(value: unknown): ParsedCase {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'a case must be a JSON object' };
  const c = value as Record<string, unknown>;
  const warnings: string[] = [];
  const input: TriageInput = {};
  const warn = (field: string, v: unknown, expected: string) =>
    warnings.push(`${field}: ${JSON.stringify(v)} is not ${expected}; treated as not recorded`);
  const present = (v: unknown) => v !== undefined && v !== null && v !== '';

  if (present(c.ageDays)) {
    const d = number(c.ageDays);
    if (d !== undefined && d >= 0) input.ageDays = d;
    else warn('ageDays', c.ageDays, 'a number of days');
  }
  if (input.ageDays === undefined && present(c.age)) {
    const d = parseAgeDays(c.age);
    if (d !== undefined) input.ageDays = d;
    else warn('age', c.age, 'an age (years, or e.g. "10d", "4mo")');
  }
  if (present(c.sex)) {
    const s = typeof c.sex === 'string' ? c.sex.trim().toLowerCase() : '';
    const sex = (
      { m: 'male', male: 'male', f: 'female', female: 'female', other: 'other', o: 'other', unknown: 'unknown', u: 'unknown' } as const
    )[s];
    if (sex) input.sex = sex;
    else warn('sex', c.sex, 'male, female, other or unknown');
  }
  for (const field of ['chiefComplaint', 'arrivalMode'] as const) {
    if (!present(c[field])) continue;
    if (typeof c[field] === 'string') input[field] = c[field] as string;
    else warn(field, c[field], 'text');
  }
  if (present(c.injury)) {
    const b = bool(c.injury);
    if (b !== undefined) input.injury = b;
    else if (typeof c.injury === 'string') input.injury = c.injury;
    else warn('injury', c.injury, 'true/false or a mechanism');
  }
  if (present(c.mentalStatus)) {
    const s = typeof c.mentalStatus === 'string' ? c.mentalStatus.trim().toLowerCase() : '';
    // ACVPU's "C" is new confusion.
    if (s === 'c' || s === 'confused' || s === 'confusion') input.newConfusion = true;
    else if (AVPU_WORDS[s]) input.mentalStatus = AVPU_WORDS[s];
    else warn('mentalStatus', c.mentalStatus, 'A, V, P or U');
  }
  if (present(c.painScore)) {
    const p = number(c.painScore);
    if (p !== undefined && p >= 0 && p <= 10) input.painScore = p;
    else warn('painScore', c.painScore, 'a number from 0 to 10');
  }
  for (const field of [
    'pregnant',
    'immunocompromised',
    'immunizationsIncomplete',
    'newConfusion',
    'hypercapnicRespiratoryFailure',
  ] as const) {
    if (!present(c[field])) continue;
    const b = bool(c[field]);
    if (b !== undefined) input[field] = input[field] || b;
    else warn(field, c[field], 'true or false');
  }
  if (present(c.vitals)) {
    if (typeof c.vitals !== 'object' || Array.isArray(c.vitals)) warn('vitals', c.vitals, 'an object');
    else {
      const raw = c.vitals as Record<string, unknown>;
      const vitals: Vitals = {};
      for (const field of VITAL_FIELDS) {
        if (!present(raw[field])) continue;
        const n = number(raw[field]);
        if (n !== undefined) vitals[field] = n;
        else warn(`vitals.${field}`, raw[field], 'a number');
      }
      if (present(raw.onOxygen)) {
        const b = bool(raw.onOxygen);
        if (b !== undefined) vitals.onOxygen = b;
        else warn('vitals.onOxygen', raw.onOxygen, 'true or false');
      }
      input.vitals = vitals;
    }
  }
  return { ok: true, input, warnings };
}

/** One output line of the offline command. */
export interface CaseOutput {
  line: number;
  esi?: number;
  /** Score of the measured parameters: a lower bound when some are missing, null when none are. */
  news2?: number | null;
  rationale?: string;
  warnings?: string[];
  error?: string;
}

/** The output for one input line (JSON text); undefined for a blank line. */
export function triageLine(text: string, line: number): CaseOutput | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { line, error: `invalid JSON: ${(err as Error).message}` };
  }
  const parsed = parseTriageCase(value);
  if (!parsed.ok) return { line, error: parsed.error };
  const result = triage(parsed.input);
  const out: CaseOutput = { line, esi: result.esi.level, news2: result.news2.score, rationale: result.rationale };
  if (parsed.warnings.length > 0) out.warnings = parsed.warnings;
  return out;
}

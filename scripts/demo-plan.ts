/**
 * The plan of a simulated ED shift: when patients arrive (a Poisson process), what they come with
 * (the triage example cases), how (walk-in, ambulance, registered by the legacy system over HL7),
 * who wears a wearable (and whose vitals deteriorate), when they leave and who gets a follow-up.
 * Pure and deterministic: the same options give the same plan; scripts/demo.ts plays it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { rng } from './bench/lib/data.ts';

export interface DemoCase {
  /** Years, or a string with a unit as the examples write it: "16d", "6w", "9m", "2y". */
  age: number | string;
  /** The age in days (from `age`). */
  ageDays: number;
  sex: 'male' | 'female';
  chiefComplaint: string;
  /** ambulance, walk-in, private vehicle, police (see {@link ARRIVAL_MODES}). */
  arrivalMode: string;
  painScore?: number;
  vitals: { sbp: number; dbp: number; hr: number; rr: number; temp: number; spo2: number };
}

export interface PlannedArrival {
  n: number;
  /** Simulated minutes from the start of the shift. */
  at: number;
  case: DemoCase;
  /** Registered by the legacy system (ADT^A04 over MLLP) rather than at the ED desk (FHIR). */
  viaHl7: boolean;
  /** A synthetic patient of the seed (index), or undefined for a new patient. */
  returning?: number;
  /** Wears a wearable that streams vitals every `wearableEveryMinutes`. */
  wearable: boolean;
  deteriorating: boolean;
  /** Simulated minutes from the start of the shift; beyond the shift's end: still there. */
  dischargeAt: number;
  followUp: boolean;
}

export interface PlanOptions {
  seed: number;
  /** Simulated minutes. */
  durationMinutes: number;
  arrivalsPerHour: number;
  /** Share of arrivals registered over HL7 (0 when no bridge). */
  hl7Share: number;
  /** How many synthetic patients the seed loaded (returning patients are drawn from them). */
  syntheticPatients: number;
  cases?: DemoCase[];
}

export const CASES_FILE = resolve(import.meta.dirname, 'triage-cases.example.jsonl');

/** The cases' arrival modes as HL7 table 0430 codes (the Encounter's modeOfArrival). */
export const ARRIVAL_MODES: Record<string, { code: string; display: string }> = {
  ambulance: { code: 'A', display: 'Ambulance' },
  'walk-in': { code: 'F', display: 'On foot' },
  'private vehicle': { code: 'C', display: 'Car' },
  police: { code: 'O', display: 'Other' },
};

/** Vitals the example omits are taken as normal adult values (the nurse measured them). */
const NORMAL = { sbp: 125, dbp: 78, hr: 80, rr: 16, temp: 36.8, spo2: 98 };

const UNIT_DAYS: Record<string, number> = { d: 1, w: 7, m: 30.44, y: 365.25 };

export function ageInDays(age: number | string): number {
  if (typeof age === 'number') return Math.round(age * 365.25);
  const m = /^(\d+(?:\.\d+)?)\s*([dwmy])$/.exec(age.trim());
  if (!m) throw new Error(`demo case: cannot read the age ${JSON.stringify(age)}`);
  return Math.round(Number(m[1]) * UNIT_DAYS[m[2]]);
}

export function loadCases(file = CASES_FILE): DemoCase[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const c = JSON.parse(l) as DemoCase;
      return { ...c, ageDays: ageInDays(c.age), vitals: { ...NORMAL, ...c.vitals } };
    });
}

/** Abnormal enough at arrival that the nurse puts a wearable on. */
function sick(c: DemoCase): boolean {
  const v = c.vitals;
  return c.arrivalMode === 'ambulance' || v.spo2 < 95 || v.hr > 100 || v.sbp < 100 || v.rr > 20 || v.temp >= 38;
}

export function planShift(options: PlanOptions): PlannedArrival[] {
  const r = rng(options.seed);
  const cases = options.cases ?? loadCases();
  const plan: PlannedArrival[] = [];
  const perMinute = options.arrivalsPerHour / 60;
  let at = 0;
  for (let n = 0; ; n++) {
    // Exponential gaps: a Poisson stream of arrivals, bunched and sparse as real ones are.
    at += -Math.log(1 - r()) / perMinute;
    if (at >= options.durationMinutes) break;
    const c = cases[Math.floor(r() * cases.length)];
    const viaHl7 = r() < options.hl7Share;
    const returning = !viaHl7 && options.syntheticPatients > 0 && r() < 0.3 ? Math.floor(r() * options.syntheticPatients) : undefined;
    const wearable = !viaHl7 && (sick(c) ? r() < 0.8 : r() < 0.15);
    const deteriorating = wearable && r() < 0.3;
    // Length of stay: sicker patients stay longer (2–6 h) than minor ones (40 min–3 h).
    const stay = sick(c) ? 120 + r() * 240 : 40 + r() * 140;
    plan.push({
      n,
      at,
      case: c,
      viaHl7,
      returning,
      wearable,
      deteriorating,
      dischargeAt: at + stay,
      followUp: r() < 0.5,
    });
  }
  return plan;
}

/** One wearable reading `minutes` after arrival: drifting, and worsening if deteriorating. */
export function wearableReading(arrival: PlannedArrival, minutes: number, seed: number): { hr: number; spo2: number; rr: number } {
  const r = rng((seed * 7_919 + arrival.n * 104_729 + Math.round(minutes)) >>> 0);
  const v = arrival.case.vitals;
  const worse = arrival.deteriorating ? Math.min(1, minutes / 120) : 0;
  const jitter = (span: number) => (r() - 0.5) * span;
  return {
    hr: Math.round(v.hr + worse * 35 + jitter(6)),
    spo2: Math.max(70, Math.min(100, Math.round(v.spo2 - worse * 9 + jitter(2)))),
    rr: Math.round(v.rr + worse * 10 + jitter(3)),
  };
}

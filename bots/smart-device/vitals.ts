/**
 * Vital signs out of FHIR Observations: single values, blood-pressure panels (components),
 * vital-signs panels (hasMember), and high-frequency series (valueSampledData). Codes are LOINC;
 * units must be the UCUM codes listed here (°F is converted to °C) — an unknown unit is ignored with
 * a reason, never guessed. The result is a time-ordered list of samples (for trends) and, per
 * parameter, the latest reading within a window (for NEWS2 and thresholds).
 */
import type { Bundle, CodeableConcept, Observation, Quantity, SampledData } from '@medplum/fhirtypes';
import {
  type CellScore,
  scoreConsciousness,
  scorePulse,
  scoreRespirationRate,
  scoreSpo2,
  scoreSystolicBP,
  scoreTemperature,
} from '../triage/news2.ts';
import type { Avpu } from '../triage/types.ts';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';

export type VitalKey = 'hr' | 'rr' | 'spo2' | 'sbp' | 'dbp' | 'temp' | 'consciousness' | 'o2Flow' | 'fio2';

interface VitalCode {
  key: VitalKey;
  name: string;
  /** Accepted UCUM codes, with the conversion to the canonical unit (the first). */
  units: Record<string, (v: number) => number>;
}

const same = (v: number) => v;
const fahrenheitToCelsius = (f: number) => Math.round(((f - 32) * 5 * 10) / 9) / 10;
const PER_MINUTE = { '/min': same, '{beats}/min': same };
const BREATHS = { '/min': same, '{breaths}/min': same };

/** LOINC code → parameter. */
export const VITAL_CODES: Record<string, VitalCode> = {
  '8867-4': { key: 'hr', name: 'heart rate', units: PER_MINUTE },
  '9279-1': { key: 'rr', name: 'respiratory rate', units: BREATHS },
  '59408-5': { key: 'spo2', name: 'SpO2 (pulse oximetry)', units: { '%': same } },
  '2708-6': { key: 'spo2', name: 'oxygen saturation', units: { '%': same } },
  '8480-6': { key: 'sbp', name: 'systolic blood pressure', units: { 'mm[Hg]': same } },
  '8462-4': { key: 'dbp', name: 'diastolic blood pressure', units: { 'mm[Hg]': same } },
  '8310-5': { key: 'temp', name: 'body temperature', units: { Cel: same, '[degF]': fahrenheitToCelsius } },
  '8331-1': { key: 'temp', name: 'oral temperature', units: { Cel: same, '[degF]': fahrenheitToCelsius } },
  '67775-7': { key: 'consciousness', name: 'level of consciousness', units: {} },
  '3151-8': { key: 'o2Flow', name: 'inhaled oxygen flow rate', units: { 'L/min': same } },
  '3150-0': { key: 'fio2', name: 'inhaled oxygen concentration', units: { '%': same } },
};
/** Panels whose parts carry the values: blood pressure (components) and vital signs (hasMember). */
/**
 * Most vital-sign readings one assessment reads, newest first (`_sort=-date`): a device streaming
 * every second sends thousands an hour, and a search without a sort returns an arbitrary page of
 * them (the server's default order is by id), which could leave out the newest reading, even the one
 * being checked. Past the limit the oldest are left out, and the rationale says so.
 */
export const VITALS_LIMIT = 500;

/** Whether a search answer has more pages than the one returned. */
export function hasNextPage(bundle: Bundle): boolean {
  return bundle.link?.some((l) => l.relation === 'next') ?? false;
}

/** The rationale's line when the window held more readings than VITALS_LIMIT. */
export function truncationNote(returned: number, more: boolean, windowMinutes: number): string | undefined {
  return more ? `· Only the newest ${returned} readings of the last ${windowMinutes} min were assessed (more were sent)` : undefined;
}

export const BP_PANEL = '85354-9';
export const VITAL_SIGNS_PANEL = '85353-1';

/** AVPU answers by letter, word, or SNOMED CT finding (mentally alert, responds to voice, responds to pain, unresponsive). */
const AVPU_TEXT: Record<string, Avpu> = {
  '248234008': 'A',
  '300202002': 'V',
  '450847001': 'P',
  '422768004': 'U',
  a: 'A',
  alert: 'A',
  v: 'V',
  voice: 'V',
  verbal: 'V',
  'responds to voice': 'V',
  p: 'P',
  pain: 'P',
  'responds to pain': 'P',
  u: 'U',
  unresponsive: 'U',
};
const AVPU_ORDER: Avpu[] = ['A', 'V', 'P', 'U'];

export interface VitalSample {
  key: VitalKey;
  /** In the canonical unit; for consciousness the AVPU index (A 0 … U 3). */
  value: number;
  avpu?: Avpu;
  time: string;
  ms: number;
  /** "Observation/id", with "#component" or "[i]" for a component or a series sample. */
  source: string;
  /** The series (Observation) a high-frequency sample came from. */
  series?: string;
  /** A SampledData "L"/"U": the true value is beyond this detection limit. */
  beyondLimit?: 'below' | 'above';
}

export interface IgnoredData {
  source: string;
  reason: string;
}

export interface Extraction {
  samples: VitalSample[];
  ignored: IgnoredData[];
  /** hasMember references of panels that were not among the Observations given (fetch and add them). */
  unresolvedMembers: string[];
}

const EXCLUDED_STATUS = new Set(['entered-in-error', 'cancelled', 'registered']);

function loincCodes(code: CodeableConcept | undefined): string[] {
  return (code?.coding ?? []).filter((c) => c.system === LOINC && c.code).map((c) => c.code as string);
}

function observationTime(obs: Observation): string | undefined {
  return obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.start;
}

/** The value in the canonical unit, or the reason it cannot be used. */
function quantityValue(q: Quantity | undefined, vital: VitalCode): number | string {
  if (q?.value === undefined || !Number.isFinite(q.value)) return 'no numeric value';
  if (q.system !== undefined && q.system !== UCUM) return `unit system ${q.system} is not UCUM`;
  const convert = q.code ? vital.units[q.code] : undefined;
  if (!convert)
    return `unit ${JSON.stringify(q.code ?? q.unit ?? null)} is not an accepted UCUM code for ${vital.name} (${Object.keys(vital.units).join(', ')})`;
  return convert(q.value);
}

function avpuOf(concept: CodeableConcept | undefined): Avpu | undefined {
  for (const text of [...(concept?.coding ?? []).flatMap((c) => [c.code, c.display]), concept?.text]) {
    const avpu = text ? AVPU_TEXT[text.trim().toLowerCase()] : undefined;
    if (avpu) return avpu;
  }
  return undefined;
}

function sampledValues(
  data: SampledData,
  start: number,
  vital: VitalCode,
  source: string,
): { samples: Omit<VitalSample, 'key'>[]; problem?: string } {
  if ((data.dimensions ?? 1) !== 1) return { samples: [], problem: `series with ${data.dimensions} dimensions is not supported` };
  if (!(data.period > 0)) return { samples: [], problem: 'series without a positive period' };
  const origin = quantityValue({ ...data.origin, value: 0 }, vital);
  if (typeof origin === 'string') return { samples: [], problem: origin };
  const convert = vital.units[data.origin.code as string];
  const factor = data.factor ?? 1;
  const base = data.origin.value ?? 0;
  const samples: Omit<VitalSample, 'key'>[] = [];
  const tokens = (data.data ?? '').trim().split(/\s+/).filter(Boolean);
  tokens.forEach((token, i) => {
    let raw: number | undefined;
    let beyondLimit: VitalSample['beyondLimit'];
    if (token === 'L' && data.lowerLimit !== undefined) {
      raw = data.lowerLimit;
      beyondLimit = 'below';
    } else if (token === 'U' && data.upperLimit !== undefined) {
      raw = data.upperLimit;
      beyondLimit = 'above';
    } else if (token !== 'E' && token !== 'L' && token !== 'U' && Number.isFinite(Number(token))) {
      raw = base + factor * Number(token);
    }
    if (raw === undefined) return; // "E" (error) or a limit without its value: no reading
    const ms = start + i * data.period;
    samples.push({ value: convert(raw), time: new Date(ms).toISOString(), ms, source: `${source}[${i}]`, series: source, beyondLimit });
  });
  return { samples };
}

/** Every usable vital-sign sample in the Observations, oldest first, and what was ignored and why. */
export function extractSamples(observations: Observation[]): Extraction {
  const samples: VitalSample[] = [];
  const ignored: IgnoredData[] = [];
  const known = new Set(observations.filter((o) => o.id).map((o) => `Observation/${o.id}`));
  const unresolved = new Set<string>();

  const take = (
    source: string,
    codes: string[],
    time: string,
    value: { q?: Quantity; concept?: CodeableConcept; sampled?: SampledData },
    obs: Observation,
  ) => {
    const vital = codes.map((c) => VITAL_CODES[c]).find(Boolean);
    if (!vital) return false;
    const ms = Date.parse(time);
    if (value.sampled) {
      const { samples: series, problem } = sampledValues(value.sampled, ms, vital, source);
      if (problem) ignored.push({ source, reason: `${vital.name}: ${problem}` });
      for (const s of series) samples.push({ key: vital.key, ...s });
      return true;
    }
    if (vital.key === 'consciousness') {
      const avpu = avpuOf(value.concept);
      if (avpu) samples.push({ key: 'consciousness', value: AVPU_ORDER.indexOf(avpu), avpu, time, ms, source });
      else ignored.push({ source, reason: 'level of consciousness is not an AVPU answer (alert, voice, pain, unresponsive)' });
      return true;
    }
    const v = quantityValue(value.q, vital);
    if (typeof v === 'string') {
      ignored.push({ source, reason: `${vital.name}: ${obs.dataAbsentReason ? 'data absent' : v}` });
    } else {
      samples.push({ key: vital.key, value: v, time, ms, source });
    }
    return true;
  };

  for (const obs of observations) {
    const source = `Observation/${obs.id ?? '(new)'}`;
    if (obs.status && EXCLUDED_STATUS.has(obs.status)) {
      ignored.push({ source, reason: `status ${obs.status}` });
      continue;
    }
    const time = observationTime(obs);
    if (!time || Number.isNaN(Date.parse(time))) {
      ignored.push({ source, reason: 'no effective time' });
      continue;
    }
    const codes = loincCodes(obs.code);
    let used = take(source, codes, time, { q: obs.valueQuantity, concept: obs.valueCodeableConcept, sampled: obs.valueSampledData }, obs);
    (obs.component ?? []).forEach((component, i) => {
      const c = loincCodes(component.code);
      if (
        take(
          `${source}#component[${i}]`,
          c,
          time,
          { q: component.valueQuantity, concept: component.valueCodeableConcept, sampled: component.valueSampledData },
          obs,
        )
      ) {
        used = true;
      }
    });
    for (const member of obs.hasMember ?? []) {
      if (member.reference?.startsWith('Observation/') && !known.has(member.reference)) unresolved.add(member.reference);
      used = true;
    }
    if (!used && !codes.includes(BP_PANEL) && !codes.includes(VITAL_SIGNS_PANEL)) {
      ignored.push({ source, reason: `not a vital sign handled here (LOINC ${codes.join(', ') || 'none'})` });
    }
  }
  samples.sort((a, b) => a.ms - b.ms);
  return { samples, ignored, unresolvedMembers: [...unresolved] };
}

export interface VitalReading {
  value: number;
  time: string;
  source: string;
  /** Set when the value is a series' worst rather than its last sample. */
  worstOfSeries?: boolean;
}

export interface VitalSet {
  hr?: VitalReading;
  rr?: VitalReading;
  spo2?: VitalReading;
  sbp?: VitalReading;
  dbp?: VitalReading;
  temp?: VitalReading;
  consciousness?: VitalReading & { avpu: Avpu };
  /** Derived from inhaled O2 flow (> 0 L/min) or concentration (> 21 %). */
  onOxygen?: { value: boolean; time: string; source: string };
}

export interface VitalSetOptions {
  /** The assessment time; default the newest sample's. */
  at?: string;
  /** Readings older than this before `at` are stale and not used; default 60 min. */
  windowMinutes?: number;
  /** For a high-frequency series, the worst sample in this span before its last one is used; default 60 s. */
  seriesWindowSeconds?: number;
  /** NEWS2 SpO2 scale, which decides what "worst" means for SpO2 in a series. */
  spo2Scale?: 1 | 2;
}

type Scorer = (v: number) => CellScore;

function severityScorers(scale: 1 | 2): Partial<Record<VitalKey, Scorer>> {
  return {
    hr: scorePulse,
    rr: scoreRespirationRate,
    spo2: (v) => scoreSpo2(v, scale),
    sbp: scoreSystolicBP,
    temp: scoreTemperature,
    consciousness: (v) => scoreConsciousness(AVPU_ORDER[v], false) ?? { score: 0, cell: '' },
  };
}

/** Per parameter, the latest reading within the window (for a series, its worst recent sample by NEWS2 score). */
export function latestVitalSet(
  samples: VitalSample[],
  options: VitalSetOptions = {},
): { set: VitalSet; stale: VitalKey[]; at: string | undefined } {
  const atMs = options.at ? Date.parse(options.at) : samples.length > 0 ? samples[samples.length - 1].ms : undefined;
  if (atMs === undefined) return { set: {}, stale: [], at: undefined };
  const windowMs = (options.windowMinutes ?? 60) * 60_000;
  const seriesMs = (options.seriesWindowSeconds ?? 60) * 1000;
  const scorers = severityScorers(options.spo2Scale ?? 1);
  const latest = new Map<VitalKey, VitalSample>();
  for (const s of samples) if (s.ms <= atMs) latest.set(s.key, s);
  const set: VitalSet = {};
  const stale: VitalKey[] = [];
  for (const [key, last] of latest) {
    if (atMs - last.ms > windowMs) {
      stale.push(key);
      continue;
    }
    let chosen = last;
    const score = scorers[key];
    if (last.series && score) {
      for (const s of samples) {
        if (s.series !== last.series || s.key !== key || s.ms > last.ms || last.ms - s.ms > seriesMs) continue;
        if (score(s.value).score > score(chosen.value).score) chosen = s;
      }
    }
    const reading: VitalReading = { value: chosen.value, time: chosen.time, source: chosen.source };
    if (chosen !== last) reading.worstOfSeries = true;
    if (key === 'consciousness') set.consciousness = { ...reading, avpu: AVPU_ORDER[chosen.value] };
    else if (key === 'o2Flow' || key === 'fio2') {
      const on = key === 'o2Flow' ? chosen.value > 0 : chosen.value > 21;
      if (!set.onOxygen || Date.parse(set.onOxygen.time) < chosen.ms)
        set.onOxygen = { value: on, time: chosen.time, source: chosen.source };
    } else set[key] = reading;
  }
  return { set, stale, at: new Date(atMs).toISOString() };
}

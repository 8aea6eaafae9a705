/**
 * Emergency Severity Index v4 as pure functions of a TriageInput.
 *
 * A (immediate life-saving intervention) → 1; B (high-risk situation, new confusion/lethargy,
 * severe pain) → 2; C (expected resource types: none → 5, one → 4, two or more → D); D (danger-zone
 * vital signs) → 2, else 3; pediatric fever rules. Vital signs only ever raise acuity here (as in
 * ESI, where they enter at D), so a missing vital can never lower the level: it is reported as not
 * evaluated, never assumed normal. Rules this implementation adds to the published algorithm are
 * labelled "local policy" in their reasons, with the reason why.
 */
import { type Age, type AgeBand, ageBand, describeAge, pediatricHypotensionLimit, resolveAge } from './age.ts';
import {
  type CompiledComplaints,
  type ComplaintCondition,
  type ComplaintMatchResult,
  type Criterion,
  defaultComplaints,
} from './complaints.ts';
import { type News2Result, news2 } from './news2.ts';
import { type QsofaResult, qsofa } from './qsofa.ts';
import { predictResources, type ResourcePrediction } from './resources.ts';
import type { EsiLevel, Reason, TriageInput, Vitals } from './types.ts';

export type EsiDecisionPoint = 'A' | 'B' | 'C' | 'D' | 'pediatric-fever' | 'local-policy';

export const ESI_THRESHOLDS = {
  /** ESI v4: pain ≥ 7/10 may be ESI 2 (severe pain/distress). */
  severePain: 7,
  /** ESI v4 decision point D: SpO2 < 92 % at any age. */
  spo2DangerZone: 92,
  /** ESI v4 decision point A: SpO2 < 90 % with respiratory compromise. */
  spo2Immediate: 90,
  /** From 10 years. ESI v4 handbook's level-1 example "BP 70/palp": profound hypotension needs resuscitation now. */
  adultProfoundHypotension: 70,
  /** From 10 years. SBP < 90 mmHg is hypotension in adults (and scores 3 in NEWS2). */
  adultHypotension: 90,
  /** mg/dL. ADA level 2 hypoglycaemia (< 54 mg/dL, 3.0 mmol/L); with altered mentation it is level 3 (severe). */
  hypoglycemia: 54,
  /** °C. ESI v4 pediatric fever: ≥ 38.0 °C. */
  fever: 38.0,
  /** °C. ESI v4 pediatric fever, 3 months – 3 years: > 39.0 °C. */
  toddlerFever: 39.0,
  /** NEWS2 ≥ 7: emergency response (RCP 2017). */
  news2High: 7,
  /** NEWS2 ≥ 5: key threshold for urgent response (RCP 2017). */
  news2Urgent: 5,
} as const;

/** Physiologically possible ranges: a value outside is a data-entry error (e.g. °F in a °C field), never guessed. */
const PLAUSIBLE: Record<Exclude<keyof Vitals, 'onOxygen'>, [number, number, string]> = {
  hr: [0, 350, '/min'],
  rr: [0, 120, '/min'],
  sbp: [0, 350, 'mmHg'],
  dbp: [0, 250, 'mmHg'],
  spo2: [0, 100, '%'],
  temp: [20, 46, '°C'],
  glucose: [0, 2000, 'mg/dL'],
};

const PLAUSIBLE_ENTRIES = Object.entries(PLAUSIBLE) as [keyof typeof PLAUSIBLE, [number, number, string]][];

/** The vitals ESI and NEWS2 use; their absence is worth saying in the rationale. */
const KEY_VITALS = ['hr', 'rr', 'spo2', 'sbp', 'temp'] as const;

export interface EsiOptions {
  /** The compiled complaint table; default: server-config/triage/complaints.json. */
  complaints?: CompiledComplaints;
}

export interface EsiResult {
  level: EsiLevel;
  decisionPoint: EsiDecisionPoint;
  /** Reasons that set or raised the level, in the order of the algorithm. */
  reasons: Reason[];
  /** Context: recognised complaints, resources, missing or implausible vitals, rules not applied. */
  notes: Reason[];
  complaints: ComplaintMatchResult;
  resources: ResourcePrediction;
  age: Age;
  ageBand: AgeBand;
  /** The plausible vitals that were used. */
  vitals: Vitals;
  missingVitals: string[];
  news2: News2Result;
  qsofa: QsofaResult;
}

interface Context {
  input: TriageInput;
  age: Age;
  band: AgeBand;
  vitals: Vitals;
  complaints: ComplaintMatchResult;
  modifiers: Set<string>;
  altered: boolean;
  fever: boolean;
  /** Abnormal vital signs as text ("HR 128 > 100"), for the complaint table's abnormalVitals condition. */
  abnormal: string[];
  news2: News2Result;
  qsofa: QsofaResult;
}

/** Keeps plausible numbers; everything else is reported and treated as not measured. */
export function plausibleVitals(vitals: Vitals | undefined): { vitals: Vitals; notes: Reason[] } {
  const out: Vitals = {};
  const notes: Reason[] = [];
  if (!vitals) return { vitals: out, notes };
  for (const [key, [min, max, unit]] of PLAUSIBLE_ENTRIES) {
    const v = vitals[key];
    if (v === undefined || v === null) continue;
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) out[key] = v;
    else
      notes.push({
        code: 'vitals.implausible',
        source: 'local policy',
        text: `${key} ${String(v)} ignored: outside ${min}–${max} ${unit} (not guessed; re-measure)`,
        values: { [key]: String(v) },
      });
  }
  if (typeof vitals.onOxygen === 'boolean') out.onOxygen = vitals.onOxygen;
  return { vitals: out, notes };
}

function buildContext(input: TriageInput, options: EsiOptions): { ctx: Context; notes: Reason[] } {
  const complaints = options.complaints ?? defaultComplaints();
  const age = resolveAge(input.ageDays, input.ageYears);
  const band = ageBand(age);
  const { vitals, notes } = plausibleVitals(input.vitals);
  const text = [input.chiefComplaint ?? '', typeof input.injury === 'string' ? input.injury : input.injury === true ? 'injury' : '']
    .filter((s) => s.trim())
    .join('. ');
  const matched = complaints.match(text, { ageYears: age.years, sex: input.sex });
  const modifiers = new Set(matched.modifiers);
  if (input.pregnant) modifiers.add('pregnant');
  if (input.immunocompromised) modifiers.add('immunocompromised');
  const altered = input.newConfusion === true || (input.mentalStatus !== undefined && input.mentalStatus !== 'A');
  const fever = (vitals.temp !== undefined && vitals.temp >= ESI_THRESHOLDS.fever) || matched.matches.some((m) => m.entry.id === 'fever');
  const abnormal: string[] = [];
  if (vitals.hr !== undefined && vitals.hr > band.hr) abnormal.push(`HR ${vitals.hr} > ${band.hr}`);
  if (vitals.rr !== undefined && vitals.rr > band.rr) abnormal.push(`RR ${vitals.rr} > ${band.rr}`);
  if (vitals.spo2 !== undefined && vitals.spo2 < ESI_THRESHOLDS.spo2DangerZone)
    abnormal.push(`SpO2 ${vitals.spo2}% < ${ESI_THRESHOLDS.spo2DangerZone}`);
  const hypotension = pediatricHypotensionLimit(age) ?? ESI_THRESHOLDS.adultHypotension;
  if (vitals.sbp !== undefined && vitals.sbp < hypotension) abnormal.push(`SBP ${vitals.sbp} < ${hypotension}`);
  const scores = {
    news2: news2({
      ...vitals,
      mentalStatus: input.mentalStatus,
      newConfusion: input.newConfusion,
      scale: input.hypercapnicRespiratoryFailure ? 2 : 1,
      ageYears: age.years,
      pregnant: modifiers.has('pregnant'),
    }),
    qsofa: qsofa({ rr: vitals.rr, sbp: vitals.sbp, mentalStatus: input.mentalStatus, newConfusion: input.newConfusion }),
  };
  return { ctx: { input, age, band, vitals, complaints: matched, modifiers, altered, fever, abnormal, ...scores }, notes };
}

/** Whether a complaint criterion's conditions hold. Unknown age counts as an adult, unknown sex as either. */
function holds(when: ComplaintCondition | undefined, ctx: Context): boolean {
  if (!when) return true;
  const years = ctx.age.years;
  if (when.minAgeYears !== undefined && years !== undefined && years < when.minAgeYears) return false;
  if (when.maxAgeYears !== undefined && (years === undefined || years > when.maxAgeYears)) return false;
  if (when.maxAgeDays !== undefined && (ctx.age.days === undefined || ctx.age.days > when.maxAgeDays)) return false;
  if (when.sex && (ctx.input.sex === 'male' || ctx.input.sex === 'female') && ctx.input.sex !== when.sex) return false;
  if (when.modifiers && !when.modifiers.some((m) => ctx.modifiers.has(m))) return false;
  if (when.abnormalVitals && ctx.abnormal.length === 0) return false;
  if (when.fever && !ctx.fever) return false;
  return true;
}

function conditionValues(when: ComplaintCondition | undefined, ctx: Context): Reason['values'] {
  const values: NonNullable<Reason['values']> = {};
  if (when?.minAgeYears !== undefined || when?.maxAgeYears !== undefined || when?.maxAgeDays !== undefined)
    values.age = describeAge(ctx.age);
  if (when?.modifiers) values.modifiers = when.modifiers.filter((m) => ctx.modifiers.has(m));
  if (when?.abnormalVitals) values.abnormalVitals = ctx.abnormal;
  if (when?.fever) values.temp = ctx.vitals.temp ?? null;
  return values;
}

function complaintReasons(ctx: Context, kind: 'immediate' | 'highRisk', code: string, label: string): Reason[] {
  const out: Reason[] = [];
  for (const m of ctx.complaints.matches) {
    const criteria: Criterion[] = m.entry[kind] ?? [];
    for (const c of criteria.filter((x) => holds(x.when, ctx))) {
      const caveat = m.applicable ? '' : ` (entry ${m.notApplicable}: kept, verify)`;
      const values = conditionValues(c.when, ctx);
      const shown = Object.entries(values ?? {}).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`);
      const driven = shown.length > 0 ? ` [${shown.join('; ')}]` : '';
      out.push({
        code,
        source: 'ESI v4',
        text: `${label}: ${c.reason} — complaint ${m.entry.display} ("${m.synonym}")${driven}${caveat}`,
        values: { complaint: m.entry.id, matched: m.matched, ...values },
      });
    }
  }
  return out;
}

/** Decision point A: does the patient need an immediate life-saving intervention? */
function decisionA(ctx: Context): Reason[] {
  const { vitals: v, input } = ctx;
  const out: Reason[] = [];
  if (input.mentalStatus === 'P' || input.mentalStatus === 'U') {
    const what = input.mentalStatus === 'U' ? 'AVPU U' : 'AVPU P, responds only to pain';
    out.push({ code: 'A.unresponsive', source: 'ESI v4', text: `Unresponsive (${what})`, values: { mentalStatus: input.mentalStatus } });
  }
  if (v.rr === 0) out.push({ code: 'A.apnea', source: 'ESI v4', text: 'Apnoeic: RR 0', values: { rr: 0 } });
  if (v.hr === 0) out.push({ code: 'A.pulseless', source: 'ESI v4', text: 'Pulseless: HR 0', values: { hr: 0 } });
  if (v.spo2 !== undefined && v.spo2 < ESI_THRESHOLDS.spo2Immediate) {
    const compromise: string[] = [];
    if (v.rr !== undefined && v.rr > ctx.band.rr) compromise.push(`RR ${v.rr} > ${ctx.band.rr}`);
    if (v.rr !== undefined && v.rr > 0 && v.rr <= 8) compromise.push(`RR ${v.rr} ≤ 8`);
    if (ctx.altered) compromise.push('altered mentation');
    if (compromise.length > 0) {
      out.push({
        code: 'A.hypoxia',
        source: 'ESI v4',
        text: `SpO2 ${v.spo2}% < ${ESI_THRESHOLDS.spo2Immediate} with respiratory compromise (${compromise.join(', ')})`,
        values: { spo2: v.spo2, rr: v.rr ?? null, compromise },
      });
    }
  }
  if (v.sbp !== undefined) {
    const pediatric = pediatricHypotensionLimit(ctx.age);
    const limit = pediatric ?? ESI_THRESHOLDS.adultProfoundHypotension;
    if (v.sbp < limit) {
      const why = pediatric !== undefined ? 'hypotension in a child is decompensated shock (PALS limit)' : 'profound hypotension';
      out.push({ code: 'A.hypotension', source: 'ESI v4', text: `SBP ${v.sbp} < ${limit} mmHg: ${why}`, values: { sbp: v.sbp, limit } });
    }
  }
  if (v.glucose !== undefined && v.glucose < ESI_THRESHOLDS.hypoglycemia && ctx.altered) {
    out.push({
      code: 'A.hypoglycemia',
      source: 'ESI v4',
      text: `Hypoglycaemia with altered mentation: glucose ${v.glucose} mg/dL < ${ESI_THRESHOLDS.hypoglycemia}`,
      values: { glucose: v.glucose },
    });
  }
  return [...out, ...complaintReasons(ctx, 'immediate', 'A.complaint', 'Immediate life-saving intervention')];
}

/** Decision point B: high-risk situation, new confusion/lethargy/disorientation, or severe pain/distress. */
function decisionB(ctx: Context): Reason[] {
  const { vitals: v, input } = ctx;
  const out = complaintReasons(ctx, 'highRisk', 'B.high-risk', 'High-risk situation');
  if (input.newConfusion === true || input.mentalStatus === 'V') {
    const what = input.newConfusion === true ? 'new confusion' : 'lethargic (AVPU V)';
    out.push({
      code: 'B.mental-status',
      source: 'ESI v4',
      text: `New confusion, lethargy or disorientation: ${what}`,
      values: { mentalStatus: input.mentalStatus ?? null },
    });
  }
  const pain = input.painScore;
  if (pain !== undefined && Number.isFinite(pain) && pain >= ESI_THRESHOLDS.severePain) {
    const matches = ctx.complaints.matches;
    if (matches.length === 0 || !matches.every((m) => m.entry.minorPain)) {
      out.push({
        code: 'B.pain',
        source: 'ESI v4',
        text: `Severe pain: ${pain}/10 ≥ ${ESI_THRESHOLDS.severePain}`,
        values: { painScore: pain },
      });
    }
  }
  if (ctx.fever && ctx.modifiers.has('immunocompromised') && !out.some((r) => r.text.includes('immunocompromised'))) {
    out.push({
      code: 'B.high-risk',
      source: 'ESI v4',
      text: `High-risk situation: immunocompromised with fever${v.temp !== undefined ? ` (T ${v.temp} °C)` : ''}`,
      values: { temp: v.temp ?? null },
    });
  }
  const infection = ctx.fever || ctx.complaints.matches.some((m) => m.entry.infection);
  if (infection && ctx.qsofa.high) {
    const met = ctx.qsofa.criteria.filter((c) => c.met).map((c) => `${c.rule} (${c.value})`);
    out.push({
      code: 'B.sepsis',
      source: 'qSOFA',
      text: `Sepsis signs: suspected infection with qSOFA ${ctx.qsofa.score} ≥ 2 — ${met.join(', ')}`,
      values: { qsofa: ctx.qsofa.score },
    });
  }
  const adult = pediatricHypotensionLimit(ctx.age) === undefined;
  if (adult && v.sbp !== undefined && v.sbp >= ESI_THRESHOLDS.adultProfoundHypotension && v.sbp < ESI_THRESHOLDS.adultHypotension) {
    out.push({
      code: 'B.hypotension',
      source: 'ESI v4',
      text: `High-risk situation: hypotension, SBP ${v.sbp} < ${ESI_THRESHOLDS.adultHypotension} mmHg`,
      values: { sbp: v.sbp },
    });
  }
  if (v.glucose !== undefined && v.glucose < ESI_THRESHOLDS.hypoglycemia && !ctx.altered) {
    out.push({
      code: 'B.hypoglycemia',
      source: 'ESI v4',
      text: `High-risk situation: glucose ${v.glucose} mg/dL < ${ESI_THRESHOLDS.hypoglycemia}`,
      values: { glucose: v.glucose },
    });
  }
  if (news2Applies(ctx) && ctx.news2.score !== null && ctx.news2.score >= ESI_THRESHOLDS.news2High) {
    out.push({
      code: 'B.news2',
      source: 'local policy',
      text: `NEWS2 ${ctx.news2.score} ≥ ${ESI_THRESHOLDS.news2High} (RCP: emergency response) is treated as a high-risk situation`,
      values: { news2: ctx.news2.score },
    });
  }
  return out;
}

/** NEWS2 uses adult physiology (not validated under 16 years): its policies apply from 16, or when age is unknown. */
function news2Applies(ctx: Context): boolean {
  return ctx.age.years === undefined || ctx.age.years >= 16;
}

/** Pediatric fever (ESI v4): 1–28 days ≥ 38.0 °C → ESI 2; 1–3 months ≥ 38.0 °C → consider ESI 2 (applied). */
function feverLevel2(ctx: Context): Reason[] {
  const { days } = ctx.age;
  const t = ctx.vitals.temp;
  if (days === undefined || days >= 90 || t === undefined || t < ESI_THRESHOLDS.fever) return [];
  const neonate = days <= 28;
  return [
    {
      code: neonate ? 'fever.neonate' : 'fever.young-infant',
      source: 'ESI v4',
      text: neonate
        ? `Pediatric fever: ${describeAge(ctx.age)} old with T ${t} °C ≥ 38.0 → at least ESI 2`
        : `Pediatric fever: ${describeAge(ctx.age)} old (1–3 months) with T ${t} °C ≥ 38.0 → consider ESI 2 (applied: the rules cannot examine the infant)`,
      values: { ageDays: Math.round(days), temp: t },
    },
  ];
}

/** Pediatric fever, 3 months – 3 years: T > 39.0 °C with incomplete immunisations or no obvious source → consider ESI 3. */
function feverLevel3(ctx: Context, notes: Reason[]): Reason[] {
  const { days, years } = ctx.age;
  const t = ctx.vitals.temp;
  if (days === undefined || years === undefined || days < 90 || years >= 3 || t === undefined || t <= ESI_THRESHOLDS.toddlerFever)
    return [];
  const sources = ctx.complaints.matches.filter((m) => m.entry.feverSource).map((m) => m.entry.display);
  const why: string[] = [];
  if (ctx.input.immunizationsIncomplete === true) why.push('incomplete immunisations');
  if (sources.length === 0) why.push('no obvious source in the complaint');
  if (why.length === 0) {
    notes.push({
      code: 'fever.toddler-not-applied',
      source: 'ESI v4',
      text: `Pediatric fever rule (3 months – 3 years, T > 39.0) not applied: obvious source (${sources.join(', ')}) and immunisations ${ctx.input.immunizationsIncomplete === false ? 'complete' : 'not recorded'}`,
      values: { temp: t },
    });
    return [];
  }
  return [
    {
      code: 'fever.toddler',
      source: 'ESI v4',
      text: `Pediatric fever: ${describeAge(ctx.age)} old with T ${t} °C > 39.0 and ${why.join(' and ')} → consider ESI 3 (applied)`,
      values: { temp: t, reasons: why },
    },
  ];
}

/** Decision point D: danger-zone vital signs for the age band, and SpO2 < 92 % at any age. */
function dangerZone(ctx: Context): Reason[] {
  const { vitals: v, band } = ctx;
  const out: Reason[] = [];
  const bandText = `${band.label}${band.assumed ? ', assumed: age unknown' : ''}`;
  if (v.hr !== undefined && v.hr > band.hr)
    out.push({
      code: 'D.hr',
      source: 'ESI v4',
      text: `Danger zone: HR ${v.hr} > ${band.hr} (${bandText})`,
      values: { hr: v.hr, limit: band.hr },
    });
  if (v.rr !== undefined && v.rr > band.rr)
    out.push({
      code: 'D.rr',
      source: 'ESI v4',
      text: `Danger zone: RR ${v.rr} > ${band.rr} (${bandText})`,
      values: { rr: v.rr, limit: band.rr },
    });
  if (v.spo2 !== undefined && v.spo2 < ESI_THRESHOLDS.spo2DangerZone) {
    out.push({
      code: 'D.spo2',
      source: 'ESI v4',
      text: `Danger zone: SpO2 ${v.spo2}% < ${ESI_THRESHOLDS.spo2DangerZone}`,
      values: { spo2: v.spo2 },
    });
  }
  return out;
}

function resourceNotes(resources: ResourcePrediction): Reason[] {
  const notes: Reason[] = [];
  if (resources.types.length > 0) {
    const list = resources.types.map((t) => `${t.display}${t.counts > 1 ? ' (counts 2)' : ''} [${t.items.join(', ')}]`);
    notes.push({
      code: 'C.resources',
      source: 'ESI v4',
      text: `Expected resources: ${resources.count} — ${list.join('; ')}`,
      values: { count: resources.count, types: resources.types.map((t) => t.type) },
    });
  }
  if (resources.excluded.length > 0) {
    notes.push({
      code: 'C.not-resources',
      source: 'ESI v4',
      text: `Not counted as resources: ${resources.excluded.map((e) => `${e.item} (${e.why})`).join('; ')}`,
    });
  }
  return notes;
}

function contextNotes(ctx: Context): Reason[] {
  const notes: Reason[] = [];
  const c = ctx.complaints;
  if (c.matches.length > 0) {
    const list = c.matches.map((m) => `${m.entry.display} ("${m.synonym}")${m.applicable ? '' : ` — ${m.notApplicable}; kept, verify`}`);
    notes.push({
      code: 'complaint.matched',
      source: 'complaint table',
      text: `Chief complaint "${ctx.input.chiefComplaint ?? ''}" → ${list.join('; ')}`,
      values: { normalized: c.normalized },
    });
  } else {
    notes.push({
      code: 'complaint.unrecognised',
      source: 'complaint table',
      text: `Chief complaint "${ctx.input.chiefComplaint ?? ''}" not recognised by the complaint table`,
    });
  }
  if (c.negated.length > 0)
    notes.push({ code: 'complaint.negated', source: 'complaint table', text: `Negated, not counted: ${c.negated.join('; ')}` });
  if (c.corrections.length > 0) {
    notes.push({
      code: 'complaint.corrected',
      source: 'complaint table',
      text: `Spelling read as: ${c.corrections.map((x) => `${x.from} → ${x.to}`).join(', ')}`,
    });
  }
  if (ctx.input.arrivalMode) {
    notes.push({
      code: 'arrival',
      source: 'complaint table',
      text: `Arrival: ${ctx.input.arrivalMode} (context only; ESI does not use it)`,
    });
  }
  if (ctx.modifiers.size > 0)
    notes.push({ code: 'complaint.modifiers', source: 'complaint table', text: `Modifiers: ${[...ctx.modifiers].join(', ')}` });
  if (ctx.band.assumed)
    notes.push({
      code: 'age.unknown',
      source: 'local policy',
      text: 'Age unknown: adult danger-zone limits used (the most sensitive); pediatric fever rules not evaluated',
    });
  return notes;
}

const VITAL_NAMES: Record<string, string> = { hr: 'HR', rr: 'RR', spo2: 'SpO2', sbp: 'SBP', temp: 'T' };

function missingVitalsNote(missing: string[], level: EsiLevel): Reason[] {
  if (missing.length === 0) return [];
  const names = (keys: string[]) => keys.map((k) => VITAL_NAMES[k] ?? k).join(', ');
  const dMissing = missing.filter((k) => k === 'hr' || k === 'rr' || k === 'spo2');
  const affects =
    dMissing.length > 0 && level >= 3 ? `; decision point D not evaluated for ${names(dMissing)}: measure now, the level may rise` : '';
  return [
    {
      code: 'vitals.missing',
      source: 'local policy',
      text: `Not measured: ${names(missing)} (unknown, not assumed normal${affects})`,
      values: { missing },
    },
  ];
}

export function esi(input: TriageInput, options: EsiOptions = {}): EsiResult {
  const { ctx, notes } = buildContext(input, options);
  const table = (options.complaints ?? defaultComplaints()).table;
  const resources = predictResources(ctx.complaints.matches, table, ctx.age.years);
  const missingVitals = KEY_VITALS.filter((k) => ctx.vitals[k] === undefined);
  notes.push(...contextNotes(ctx));
  const finish = (level: EsiLevel, decisionPoint: EsiDecisionPoint, reasons: Reason[]): EsiResult => {
    notes.push(...resourceNotes(resources), ...missingVitalsNote(missingVitals, level));
    return {
      level,
      decisionPoint,
      reasons,
      notes,
      complaints: ctx.complaints,
      resources,
      age: ctx.age,
      ageBand: ctx.band,
      vitals: ctx.vitals,
      missingVitals,
      news2: ctx.news2,
      qsofa: ctx.qsofa,
    };
  };

  const a = decisionA(ctx);
  if (a.length > 0) return finish(1, 'A', a);
  const b = decisionB(ctx);
  const infantFever = feverLevel2(ctx);
  if (b.length > 0) return finish(2, 'B', [...b, ...infantFever]);
  if (infantFever.length > 0) return finish(2, 'pediatric-fever', infantFever);

  // C: resources. An unrecognised complaint is "unknown", which must not read as "none".
  const reasons: Reason[] = [];
  let count = resources.count;
  if (resources.unknown) {
    count = 2;
    reasons.push({
      code: 'C.unknown',
      source: 'local policy',
      text: 'Resources unknown (complaint not recognised): counted as two or more, so the level cannot fall below 3 without a nurse',
    });
  }
  const d = dangerZone(ctx);
  let level: EsiLevel;
  let point: EsiDecisionPoint = 'C';
  if (count >= 2) {
    if (!resources.unknown)
      reasons.push({
        code: 'C.many',
        source: 'ESI v4',
        text: `Two or more resource types expected (${count}) → decision point D`,
        values: { count },
      });
    if (d.length > 0) {
      level = 2;
      point = 'D';
      reasons.push(...d);
    } else {
      level = 3;
    }
  } else {
    level = count === 1 ? 4 : 5;
    reasons.push({
      code: count === 1 ? 'C.one' : 'C.none',
      source: 'ESI v4',
      text: count === 1 ? `One resource type expected (${resources.types[0].display}) → ESI 4` : 'No resources expected → ESI 5',
      values: { count },
    });
    const spo2 = d.filter((r) => r.code === 'D.spo2');
    const hrRr = d.filter((r) => r.code !== 'D.spo2');
    if (spo2.length > 0) {
      // Hypoxaemia needs at least labs and imaging, which the complaint text cannot predict.
      level = 2;
      point = 'D';
      reasons.push(
        ...spo2.map((r) => ({ ...r, text: `${r.text} — hypoxaemia needs two or more resources whatever the complaint, so D applies` })),
      );
    } else if (hrRr.length > 0) {
      level = 3;
      point = 'local-policy';
      reasons.push(
        ...hrRr.map((r) => ({
          ...r,
          source: 'local policy' as const,
          text: `${r.text} with fewer than two predicted resources: raised to ESI 3 (the complaint-based prediction cannot see the work-up abnormal vitals need)`,
        })),
      );
    }
  }

  const floors: { level: EsiLevel; point: EsiDecisionPoint; reason: Reason }[] = [];
  for (const r of feverLevel3(ctx, notes)) floors.push({ level: 3, point: 'pediatric-fever', reason: r });
  const n = ctx.news2;
  if (news2Applies(ctx) && n.score !== null && (n.score >= ESI_THRESHOLDS.news2Urgent || n.singleParameter3)) {
    floors.push({
      level: 3,
      point: 'local-policy',
      reason: {
        code: 'floor.news2',
        source: 'local policy',
        text: `NEWS2 ${n.score} (${n.band}: ${n.response}) needs at least ESI 3`,
        values: { news2: n.score, band: n.band },
      },
    });
  }
  for (const f of floors) {
    if (f.level < level) {
      level = f.level;
      point = f.point;
    }
    if (f.level <= level) reasons.push(f.reason);
  }
  return finish(level, point, reasons);
}

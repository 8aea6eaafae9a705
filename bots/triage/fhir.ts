/**
 * The triage result as FHIR resources, for the handler to write in one transaction, as docs/ed-data.md
 * describes them: an ESI Observation (ES observation-code `esi` and LOINC 75636-1, valued in the ES
 * ESI CodeSystem and the LOINC answers, one component per reason), NEWS2 and qSOFA Observations with
 * a component per parameter/criterion, a RiskAssessment, and the Encounter.priority. Every resource
 * carries the rationale. Pure: ids, times and references come in.
 */
import type {
  CodeableConcept,
  Encounter,
  Observation,
  ObservationComponent,
  Patient,
  Practitioner,
  PractitionerRole,
  Reference,
  RiskAssessment,
} from '@medplum/fhirtypes';
import { esiConcept, priorityForEsi } from '../lib/acuity.ts';
import { ES, OBSERVATION_CODE_SYSTEM, OBSERVATION_METHOD_SYSTEM } from '../lib/workflow.ts';
import type { LlmRefinement } from './llm.ts';
import type { News2Parameter } from './news2.ts';
import type { TriageResult } from './triage.ts';
import type { EsiLevel } from './types.ts';

/** fhir-profiles/terminology/triage-score.json: the parts of the scores that have no standard code. */
export const TRIAGE_SCORE_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/triage-score';
const LOINC = 'http://loinc.org';
const RISK_PROBABILITY = 'http://terminology.hl7.org/CodeSystem/risk-probability';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** LOINC answer list for 75636-1 (Emergency severity index). */
const ESI_LOINC_ANSWERS: Record<EsiLevel, string> = { 1: 'LA21567-5', 2: 'LA21752-3', 3: 'LA21753-1', 4: 'LA21754-9', 5: 'LA21755-6' };

const NEWS2_COMPONENT_CODES: Record<News2Parameter, { system: string; code: string; display: string }> = {
  respirationRate: { system: LOINC, code: '9279-1', display: 'Respiratory rate' },
  spo2: { system: LOINC, code: '59408-5', display: 'Oxygen saturation by pulse oximetry' },
  airOrOxygen: { system: TRIAGE_SCORE_SYSTEM, code: 'news2-air-or-oxygen', display: 'Air or oxygen' },
  systolicBP: { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
  pulse: { system: LOINC, code: '8867-4', display: 'Heart rate' },
  consciousness: { system: LOINC, code: '67775-7', display: 'Level of responsiveness' },
  temperature: { system: LOINC, code: '8310-5', display: 'Body temperature' },
};

/** The ESI value: the ES ESI code (shared with the override, bots/lib/acuity.ts) and the LOINC answer. */
export function esiValue(level: EsiLevel): CodeableConcept {
  const concept = esiConcept(level);
  return { ...concept, coding: [...(concept.coding ?? []), { system: LOINC, code: ESI_LOINC_ANSWERS[level], display: `${level}` }] };
}

export interface TriageResourceContext {
  subject: Reference<Patient>;
  encounter: Reference<Encounter>;
  /** When triage was performed (ISO). */
  effective: string;
  /**
   * The clinician who performed or confirmed triage, if any. (A Bot is not a valid performer in R4;
   * the server records the bot as meta.author of what it writes.)
   */
  performer?: Reference<Practitioner | PractitionerRole>;
  /** The vital-sign Observations the scores were computed from. */
  derivedFrom?: Reference<Observation>[];
  /** fullUrls (e.g. urn:uuid:…) of the three Observations in the transaction, for RiskAssessment.basis. */
  fullUrls?: { esi: string; news2: string; qsofa: string };
  /** An LLM refinement: its level (never below the rules') becomes the recorded level. */
  refinement?: LlmRefinement;
}

export interface TriageResources {
  esi: Observation;
  news2: Observation;
  qsofa: Observation;
  riskAssessment: RiskAssessment;
  priority: CodeableConcept;
  /** The level recorded (the refinement's, when one raised acuity). */
  level: EsiLevel;
}

function survey(code: CodeableConcept, ctx: TriageResourceContext, status: Observation['status']): Observation {
  return {
    resourceType: 'Observation',
    status,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'survey', display: 'Survey' }] }],
    code,
    subject: ctx.subject,
    encounter: ctx.encounter,
    effectiveDateTime: ctx.effective,
    ...(ctx.performer ? { performer: [ctx.performer] } : {}),
    ...(ctx.derivedFrom?.length ? { derivedFrom: ctx.derivedFrom } : {}),
  };
}

function qualitativeRisk(result: TriageResult, level: EsiLevel): { code: string; display: string } {
  const band = result.news2.band;
  if (level <= 2 || band === 'high') return { code: 'high', display: 'High likelihood' };
  if (level === 3 || band === 'medium' || band === 'low-medium') return { code: 'moderate', display: 'Moderate likelihood' };
  return { code: 'low', display: 'Low likelihood' };
}

export function triageResources(result: TriageResult, ctx: TriageResourceContext): TriageResources {
  const refinement = ctx.refinement;
  const level = refinement ? refinement.level : result.esi.level;
  const notes = [{ text: result.rationale }];
  if (refinement?.explanation || refinement?.outcome) {
    notes.push({ text: refinementNote(refinement) });
  }

  const esi = survey(
    {
      coding: [
        { system: OBSERVATION_CODE_SYSTEM, code: 'esi', display: 'Emergency Severity Index triage level' },
        { system: LOINC, code: '75636-1', display: 'Emergency severity index [ESI]' },
      ],
      text: 'Emergency Severity Index',
    },
    ctx,
    'final',
  );
  esi.meta = { ...esi.meta, profile: [`${ES}/StructureDefinition/esi-observation`] };
  esi.valueCodeableConcept = esiValue(level);
  const raised = refinement?.changed === true;
  esi.method = {
    coding: [
      raised
        ? { system: OBSERVATION_METHOD_SYSTEM, code: 'rules-llm', display: 'Rules refined by a language model' }
        : { system: OBSERVATION_METHOD_SYSTEM, code: 'rules', display: 'Deterministic rules' },
    ],
    text: `ESI v4 rules, decision point ${result.esi.decisionPoint}${raised ? `; raised by ${refinement?.model} (AI)` : ''}`,
  };
  esi.note = notes;
  // One component per reason that set the level (docs/ed-data.md).
  esi.component = result.reasons.map(
    (r): ObservationComponent => ({
      code: { text: r.code },
      valueString: r.source === 'local policy' ? `[local policy] ${r.text}` : r.text,
    }),
  );

  const n = result.news2;
  const news2 = survey(
    { coding: [{ system: OBSERVATION_CODE_SYSTEM, code: 'news2', display: 'National Early Warning Score 2' }], text: 'NEWS2' },
    ctx,
    n.complete ? 'final' : 'preliminary',
  );
  news2.meta = { ...news2.meta, profile: [`${ES}/StructureDefinition/news2-observation`] };
  if (n.score === null)
    news2.dataAbsentReason = {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }],
      text: 'no parameter measured',
    };
  else news2.valueInteger = n.score;
  if (n.band)
    news2.interpretation = [
      { coding: [{ system: TRIAGE_SCORE_SYSTEM, code: `news2-${n.band}`, display: `${n.band}: ${n.response}` }], text: n.band },
    ];
  news2.component = [
    ...n.parameterScores.map(
      (p): ObservationComponent => ({ code: { coding: [NEWS2_COMPONENT_CODES[p.parameter]], text: p.cell }, valueInteger: p.score }),
    ),
    ...n.missing.map(
      (m): ObservationComponent => ({
        code: { coding: [NEWS2_COMPONENT_CODES[m]] },
        dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }] },
      }),
    ),
  ];
  news2.note = [
    {
      text: n.complete
        ? `NEWS2 ${n.score} (${n.band})`
        : `Lower bound: not measured ${n.missing.join(', ')}${n.notes.length ? `; ${n.notes.join('; ')}` : ''}`,
    },
  ];

  const q = result.qsofa;
  const qsofa = survey(
    { coding: [{ system: OBSERVATION_CODE_SYSTEM, code: 'qsofa', display: 'quick Sequential Organ Failure Assessment' }], text: 'qSOFA' },
    ctx,
    q.missing.length === 0 ? 'final' : 'preliminary',
  );
  qsofa.valueInteger = q.score;
  qsofa.interpretation = [
    {
      coding: [{ system: TRIAGE_SCORE_SYSTEM, code: q.high ? 'qsofa-high' : 'qsofa-not-high' }],
      text: q.high ? 'high risk' : 'not high risk',
    },
  ];
  qsofa.component = q.criteria.map(
    (c): ObservationComponent =>
      c.met === null
        ? {
            code: { coding: [{ system: TRIAGE_SCORE_SYSTEM, code: `qsofa-${c.name}` }], text: c.rule },
            dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }] },
          }
        : { code: { coding: [{ system: TRIAGE_SCORE_SYSTEM, code: `qsofa-${c.name}` }], text: c.rule }, valueBoolean: c.met },
  );

  const risk = qualitativeRisk(result, level);
  const riskAssessment: RiskAssessment = {
    resourceType: 'RiskAssessment',
    status: 'final',
    subject: ctx.subject,
    encounter: ctx.encounter,
    occurrenceDateTime: ctx.effective,
    ...(ctx.performer ? { performer: ctx.performer } : {}),
    method: { text: 'ESI v4 + NEWS2' },
    ...(ctx.fullUrls
      ? { basis: [{ reference: ctx.fullUrls.esi }, { reference: ctx.fullUrls.news2 }, { reference: ctx.fullUrls.qsofa }] }
      : {}),
    prediction: [
      {
        outcome: { text: 'Clinical deterioration needing urgent or emergency response' },
        qualitativeRisk: { coding: [{ system: RISK_PROBABILITY, ...risk }] },
        rationale: result.rationale.split('\n')[0] + (result.reasons.length ? `: ${result.reasons.map((r) => r.text).join('; ')}` : ''),
      },
    ],
    note: notes,
  };

  return { esi, news2, qsofa, riskAssessment, priority: priorityForEsi(level), level };
}

function refinementNote(r: LlmRefinement): string {
  if (r.outcome === 'raised') return `AI refinement raised ESI ${r.rulesLevel} → ${r.level}. ${r.explanation ?? ''}`.trim();
  if (r.outcome === 'lower-ignored')
    return `AI proposed ESI ${r.llmLevel}, less acute than the rules: ignored. ${r.explanation ?? ''}`.trim();
  if (r.outcome === 'agreed') return `AI agreed with ESI ${r.level}. ${r.explanation ?? ''}`.trim();
  return `AI refinement unavailable (${r.outcome}); rules level recorded.`;
}

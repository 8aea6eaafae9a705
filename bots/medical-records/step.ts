/**
 * The `medical-records` step of the workflows (emergency, regular, device_scan, emergency_device):
 * read the patient's record through `$everything`, write the patient summary (a Composition
 * linked to the encounter, once per Task version), raise the medication safety alerts, and — with
 * an OpenAI key — add an AI-written summary that is labelled as such and lists its sources.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Composition, Reference } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import { BOT_SYSTEM } from '../lib/workflow.ts';
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { createOpenAiClient } from '../triage/llm.ts';
import { findAlerts } from './alerts.ts';
import { defaultDrugTable } from './drugs.ts';
import { AI_SUMMARY_TIMEOUT_MS, aiSummaryDocument, sourcesOf, summarizeWithLlm } from './llm.ts';
import { type Raised, raiseAlerts } from './raise.ts';
import { currentEdEncounter, loadRecord } from './record.ts';
import { buildSummary, sectionCounts } from './summary.ts';

export const BOT_NAME = 'medical-records';
export const AGENT: Reference = {
  identifier: { system: BOT_SYSTEM, value: BOT_NAME },
  display: 'EmergiSphere medical records agent (automated)',
};

type Secrets = BotEvent['secrets'];
const secret = (secrets: Secrets, name: string): string | undefined => secrets?.[name]?.valueString || undefined;

export function alertLines(raised: Raised[]): string[] {
  return raised.map(
    (r) =>
      `${r.alert.severity.toUpperCase()} ${r.alert.title}${r.created ? '' : ' (raised before)'}${r.notice ? ', notice sent' : ''}: ${r.alert.detail}`,
  );
}

export async function medicalRecordsStep(ctx: StepContext): Promise<StepOutcome> {
  const { medplum } = ctx;
  const patientRef = ctx.patient ? `Patient/${ctx.patient.id}` : ctx.device?.patient?.reference;
  if (!patientRef?.startsWith('Patient/')) {
    return { note: 'no patient', rationale: 'The step has no patient, so there is no record to read.' };
  }
  const record = await loadRecord(medplum, patientRef.slice('Patient/'.length));
  const encounter = ctx.encounter ?? currentEdEncounter(record.encounters);
  const encounterRef = encounter ? { reference: `Encounter/${encounter.id}` } : undefined;
  const now = new Date().toISOString();
  const summary = buildSummary(record, {
    patient: { reference: patientRef },
    encounter: encounterRef,
    author: AGENT,
    custodian: encounter?.serviceProvider,
    now,
  });
  const composition = await createOnce<Composition>(medplum, { bot: BOT_NAME, trigger: ctx.trigger, effect: 'summary', resource: summary });

  const orders = new Map(record.medicationRequests.map((o) => [`MedicationRequest/${o.id}`, o]));
  const alerts = findAlerts(
    { allergies: record.allergies, orders: record.medicationRequests, medications: record.medications },
    defaultDrugTable(),
  );
  const raised = await raiseAlerts(medplum, alerts, { patient: { reference: patientRef }, encounter: encounterRef, now, orders });

  const outputs: StepOutput[] = [
    { type: 'patient summary', reference: `Composition/${composition.id}` },
    ...raised.map((r) => ({ type: `alert: ${r.alert.kind}`, reference: r.issue })),
  ];
  const rationale = [
    `Read ${record.read} resources of the patient's record with $everything${record.truncated ? ' (stopped at the page limit: the oldest are not summarised)' : ''}.`,
    `Patient summary (Composition/${composition.id}): ${sectionCounts(composition)}.`,
    raised.length
      ? `Alerts (drug table ${defaultDrugTable().table.version}):`
      : `No medication alerts (drug table ${defaultDrugTable().table.version}).`,
    ...alertLines(raised),
  ];
  const ai = await aiSummary(medplum, ctx.secrets, composition, { patient: patientRef, encounter: encounterRef, trigger: ctx });
  if (ai.reference) outputs.push({ type: 'AI-generated summary (not clinician-reviewed)', reference: ai.reference });
  rationale.push(ai.note);
  return { note: 'patient summary written', outputs, rationale: rationale.join('\n') };
}

async function aiSummary(
  medplum: MedplumClient,
  secrets: Secrets,
  composition: Composition,
  ctx: { patient: string; encounter?: Reference; trigger: StepContext },
): Promise<{ reference?: string; note: string }> {
  const apiKey = secret(secrets, 'OPENAI_API_KEY');
  if (!apiKey) return { note: 'AI summary: not configured (no OPENAI_API_KEY).' };
  const model = secret(secrets, 'OPENAI_MODEL') ?? 'gpt-4o-mini';
  const sources = sourcesOf(composition);
  const outcome = await summarizeWithLlm(sources, {
    client: createOpenAiClient({ apiKey, baseURL: secret(secrets, 'OPENAI_BASE_URL'), timeoutMs: AI_SUMMARY_TIMEOUT_MS }),
    model,
  });
  if (!outcome.ok) {
    console.log(`[warn] AI summary (${model}) not written: ${outcome.reason}`);
    return { note: `AI summary: not written (${outcome.reason}); the structured summary stands.` };
  }
  const doc = await createOnce(medplum, {
    bot: BOT_NAME,
    trigger: ctx.trigger.trigger,
    effect: 'ai-summary',
    resource: aiSummaryDocument(outcome.text, outcome.cited, {
      patient: { reference: ctx.patient },
      encounter: ctx.encounter,
      composition: { reference: `Composition/${composition.id}` },
      model,
      now: new Date().toISOString(),
    }),
  });
  return {
    reference: `DocumentReference/${doc.id}`,
    note: `AI summary (${model}, labelled as generated, ${outcome.cited.length} sources): DocumentReference/${doc.id}.`,
  };
}

/**
 * The triage agent: runs the workflow's `triage` step for an ED Encounter. Reads the arrival's
 * record, decides with the deterministic rules (ESI v4, NEWS2, qSOFA), lets a language model raise
 * (never lower) the level when a key is configured, and writes the results, the rationale and,
 * for ESI 1–2, a page in one transaction (docs/ed-data.md).
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Condition, DocumentReference, Encounter, Observation, Patient, Reference, Task } from '@medplum/fhirtypes';
import { clinicianOverride, esiOfObservation } from '../lib/acuity.ts';
import { ES } from '../lib/workflow.ts';
import { runStep, type StepContext, type StepOutcome } from '../lib/workflow-step.ts';
import { extractSamples, latestVitalSet } from '../smart-device/vitals.ts';
import { triageResources } from './fhir.ts';
import { triageInputFromFhir } from './fhir-input.ts';
import { createOpenAiClient, type LlmRefinement, refineWithLlm } from './llm.ts';
import { TRIAGE_URNS, triageTransaction } from './transaction.ts';
import { transcribeAudio } from './transcribe.ts';
import { triage } from './triage.ts';
import type { TriageInput } from './types.ts';

const ON_CALL_SYSTEM = `${ES}/on-call`;
/** Vital signs taken up to this long before triage count (devices may have sent them before arrival). */
const VITALS_WINDOW_MINUTES = 60;

export async function handler(medplum: MedplumClient, event: BotEvent<Task>): Promise<unknown> {
  return runStep(medplum, event, (ctx) => triageStep(ctx));
}

type Secrets = BotEvent['secrets'];
const secret = (secrets: Secrets, name: string): string | undefined => secrets?.[name]?.valueString || undefined;

async function triageStep(ctx: StepContext): Promise<StepOutcome> {
  const { medplum, encounter, patient } = ctx;
  if (!encounter) {
    throw new Error(`Triage needs an Encounter (Task/${ctx.task.id} focuses on ${ctx.task.focus?.reference ?? 'nothing'})`);
  }
  const now = new Date().toISOString();
  const [observations, conditions] = await Promise.all([
    recentObservations(medplum, encounter, patient, now),
    activeConditions(medplum, patient),
  ]);

  let input = triageInputFromFhir({ patient, encounter, observations, conditions, at: now, windowMinutes: VITALS_WINDOW_MINUTES });
  const voice = await voiceComplaint(medplum, encounter, ctx.secrets, input);
  input = voice.input;
  const result = triage(input);

  const refinement = await refine(input, result, ctx.secrets);
  const override = clinicianOverride(observations);
  const resources = triageResources(result, {
    subject: encounter.subject as Reference<Patient>,
    encounter: { reference: `Encounter/${encounter.id}` },
    effective: now,
    derivedFrom: vitalSources(observations, now),
    fullUrls: { esi: TRIAGE_URNS.esi, news2: TRIAGE_URNS.news2, qsofa: TRIAGE_URNS.qsofa },
    refinement,
  });
  const extra = [...voice.notes];
  if (override) {
    extra.push(
      `Clinician override in force: ESI ${esiOfObservation(override)} (${override.note?.[0]?.text ?? 'no reason'}); priority left as set.`,
    );
  }
  if (extra.length) {
    resources.esi.note = [...(resources.esi.note ?? []), ...extra.map((text) => ({ text }))];
  }
  const pageTeam = resources.level <= 2 ? await onCallTeam(medplum, 'ed-physician') : undefined;
  const response = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: triageTransaction({
      resources,
      encounter: encounter as WithId<Encounter>,
      trigger: ctx.trigger,
      now,
      overridden: !!override,
      pageTeam,
      vitals: result.esi.vitals,
    }),
  });
  const written = (response.entry ?? []).map((e) => e.response?.location?.split('/_history')[0]).filter((l): l is string => !!l);
  const [esiRef, news2Ref, qsofaRef, riskRef] = written;
  const pageRef = written.find((r) => r.startsWith('CommunicationRequest/'));
  const rationale = [result.rationale, ...(resources.esi.note ?? []).slice(1).map((n) => n.text ?? ''), ...extra].filter(Boolean);
  console.log(
    `ESI ${resources.level} for Encounter/${encounter.id} (decision point ${result.esi.decisionPoint})${pageRef ? `; paged ${pageTeam?.reference}` : ''}`,
  );
  return {
    note: `ESI ${resources.level}${override ? ` (override ESI ${esiOfObservation(override)} in force)` : ''}`,
    rationale: [...new Set(rationale)].join('\n'),
    outputs: [
      { type: 'ESI Observation', reference: esiRef },
      { type: 'NEWS2 Observation', reference: news2Ref },
      { type: 'qSOFA Observation', reference: qsofaRef },
      { type: 'RiskAssessment', reference: riskRef },
      ...(pageRef ? [{ type: 'page', reference: pageRef }] : []),
      ...(!pageRef && resources.level <= 2
        ? [{ type: 'page', text: 'no on-call team "ed-physician" is configured: nobody was paged' }]
        : []),
    ],
  };
}

/** Observations of this encounter, and the patient's vital signs of the last hour (e.g. from a wearable). */
async function recentObservations(
  medplum: MedplumClient,
  encounter: Encounter,
  patient: Patient | undefined,
  now: string,
): Promise<Observation[]> {
  const since = new Date(Date.parse(now) - VITALS_WINDOW_MINUTES * 60_000).toISOString();
  const [forEncounter, forPatient] = await Promise.all([
    medplum.searchResources(
      'Observation',
      { encounter: `Encounter/${encounter.id}`, _count: '200', _sort: '-_lastUpdated' },
      { cache: 'no-cache' },
    ),
    patient
      ? medplum.searchResources(
          'Observation',
          // Newest first: a wearable streaming every second passes 200 readings in minutes, and
          // unsorted (id order) the newest set would be an arbitrary one.
          { subject: `Patient/${patient.id}`, category: 'vital-signs', date: `ge${since}`, _sort: '-date', _count: '200' },
          { cache: 'no-cache' },
        )
      : Promise.resolve([]),
  ]);
  const byId = new Map<string, Observation>();
  for (const o of [...forEncounter, ...forPatient]) byId.set(o.id as string, o);
  return [...byId.values()];
}

async function activeConditions(medplum: MedplumClient, patient: Patient | undefined): Promise<Condition[]> {
  if (!patient) return [];
  return medplum.searchResources(
    'Condition',
    { subject: `Patient/${patient.id}`, 'clinical-status': 'active', _count: '100' },
    { cache: 'no-cache' },
  );
}

/** The vital-sign Observations the rules used (the same selection triageInputFromFhir makes), for derivedFrom. */
function vitalSources(observations: Observation[], at: string): Reference<Observation>[] {
  const { set } = latestVitalSet(extractSamples(observations).samples, { at, windowMinutes: VITALS_WINDOW_MINUTES });
  // A sample's source names its Observation, plus "#component" or "[i]" inside it.
  const used = new Set(Object.values(set).map((reading) => reading.source.replace(/[#[].*$/, '')));
  return [...used].map((reference) => ({ reference }));
}

async function onCallTeam(medplum: MedplumClient, team: string): Promise<Reference | undefined> {
  const careTeam = await medplum.searchOne('CareTeam', { identifier: `${ON_CALL_SYSTEM}|${team}` }, { cache: 'no-cache' });
  return careTeam ? { reference: `CareTeam/${careTeam.id}`, display: careTeam.name } : undefined;
}

async function refine(input: TriageInput, result: ReturnType<typeof triage>, secrets: Secrets): Promise<LlmRefinement | undefined> {
  const apiKey = secret(secrets, 'OPENAI_API_KEY');
  if (!apiKey) return undefined;
  const refinement = await refineWithLlm(input, result, {
    client: createOpenAiClient({ apiKey, baseURL: secret(secrets, 'OPENAI_BASE_URL') }),
    model: secret(secrets, 'OPENAI_MODEL') ?? 'gpt-4o-mini',
  });
  // A fallback is silent for the patient (the rules' level stands) but visible in the execution log.
  console.log(`[${refinement.log.level}] ${refinement.log.message}`);
  return refinement;
}

/**
 * Voice intake: with no typed complaint and an OpenAI key, an audio attachment of the encounter
 * (a DocumentReference whose content is audio) is transcribed and used as the complaint.
 */
async function voiceComplaint(
  medplum: MedplumClient,
  encounter: Encounter,
  secrets: Secrets,
  input: TriageInput,
): Promise<{ input: TriageInput; notes: string[] }> {
  const apiKey = secret(secrets, 'OPENAI_API_KEY');
  if (input.chiefComplaint || !apiKey) return { input, notes: [] };
  const docs: DocumentReference[] = await medplum.searchResources(
    'DocumentReference',
    { encounter: `Encounter/${encounter.id}`, _count: '20' },
    { cache: 'no-cache' },
  );
  const audio = docs.flatMap((d) => d.content.map((c) => c.attachment)).find((a) => a.contentType?.startsWith('audio/') && a.url);
  if (!audio?.url) return { input, notes: [] };
  const blob = (await medplum.download(audio.url)) as Blob;
  const result = await transcribeAudio(new Uint8Array(await blob.arrayBuffer()), audio.contentType as string, {
    client: createOpenAiClient({ apiKey, baseURL: secret(secrets, 'OPENAI_BASE_URL'), timeoutMs: 30_000 }),
    language: 'en',
  });
  if (!result.ok) {
    console.log(`[${result.log.level}] ${result.log.message}`);
    return { input, notes: [`Voice intake could not be transcribed (${result.reason}); triaged without a complaint.`] };
  }
  return {
    input: { ...input, chiefComplaint: result.text },
    notes: [`Chief complaint from voice intake, transcribed automatically (AI-generated, verify): "${result.text}"`],
  };
}

/**
 * Identity at registration: a temporary identity for a patient nobody can name yet; otherwise the
 * master patient index — link the arrival to the patient's existing record, ask a registration
 * clerk when unsure, or keep the arrival as a new patient.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, Task } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import type { StepContext, StepOutput } from '../lib/workflow-step.ts';
import { AGENT } from './agent.ts';
import { candidateSearches } from './candidates.ts';
import { BOT_NAME, CONFIRM_MATCH_TASK } from './codes.ts';
import { demographicsOf } from './demographics.ts';
import { isTemporary, needsTemporaryIdentity, replacedBy, withTemporaryIdentity } from './identity.ts';
import { DEFAULT_THRESHOLDS, describeScore, type MatchResult, type MatchThresholds, matchPatient } from './match.ts';
import { mergeRecords } from './merge-records.ts';

export interface Registration {
  /** The patient record the encounter now belongs to. */
  patient: WithId<Patient>;
  outputs: StepOutput[];
  lines: string[];
  note: string;
}

async function candidates(medplum: MedplumClient, arrival: WithId<Patient>): Promise<WithId<Patient>[]> {
  const found = new Map<string, WithId<Patient>>();
  const searches = candidateSearches(demographicsOf(arrival));
  const results = await Promise.all(searches.map((s) => medplum.searchResources('Patient', s.params, { cache: 'no-cache' })));
  for (const patient of results.flat()) {
    if (patient.id === arrival.id || patient.active === false || replacedBy(patient) || isTemporary(patient)) continue;
    found.set(patient.id, patient);
  }
  return [...found.values()];
}

/** Whether the arrival's record was made for this visit (no other encounter): only such a record is merged away automatically. */
async function isFresh(medplum: MedplumClient, patient: WithId<Patient>, encounterId: string | undefined): Promise<boolean> {
  const encounters = await medplum.searchResources('Encounter', { subject: `Patient/${patient.id}`, _count: '5' }, { cache: 'no-cache' });
  return encounters.every((e) => e.id === encounterId);
}

const label = (p: WithId<Patient>) => {
  const n = p.name?.[0];
  return `Patient/${p.id} (${n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ')}, ${p.birthDate ?? 'no birth date'})`;
};

function confirmTask(ctx: StepContext, arrival: WithId<Patient>, result: MatchResult<WithId<Patient>>, why: string): Task {
  const best = result.best;
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    code: { coding: [CONFIRM_MATCH_TASK], text: 'Confirm patient match' },
    description: `${why} Confirm with POST Patient/$merge-temporary (source = this arrival, target = the candidate, task = this Task), or reject this Task if they are different people.`,
    for: { reference: `Patient/${arrival.id}` },
    focus: ctx.encounter ? { reference: `Encounter/${ctx.encounter.id}` } : undefined,
    encounter: ctx.encounter ? { reference: `Encounter/${ctx.encounter.id}` } : undefined,
    authoredOn: new Date().toISOString(),
    requester: AGENT as Task['requester'],
    performerType: [{ text: 'registration clerk' }],
    input: [
      ...(best ? [{ type: { text: 'candidate' }, valueReference: { reference: `Patient/${best.candidate.id}` } }] : []),
      ...(best ? [{ type: { text: 'score' }, valueDecimal: best.score.score }] : []),
      ...(best ? [{ type: { text: 'reasons' }, valueString: describeScore(best.score) }] : []),
      ...result.ranked
        .slice(1, 4)
        .map((r) => ({ type: { text: 'other candidate' }, valueString: `${label(r.candidate)}: ${describeScore(r.score)}` })),
    ],
  };
}

export async function register(ctx: StepContext, thresholds: MatchThresholds = DEFAULT_THRESHOLDS): Promise<Registration> {
  const { medplum } = ctx;
  let arrival = ctx.patient as WithId<Patient>;
  const merged = replacedBy(arrival);
  if (merged?.startsWith('Patient/')) {
    // A re-run after the link: the encounter already belongs to the record.
    const patient = await medplum.readResource('Patient', merged.slice('Patient/'.length), { cache: 'no-cache' });
    return {
      patient,
      outputs: [{ type: 'patient record', reference: merged }],
      lines: [`Already linked to ${label(patient)}.`],
      note: 'linked',
    };
  }
  if (needsTemporaryIdentity(arrival)) {
    arrival = await medplum.updateResource(withTemporaryIdentity(arrival), { headers: { 'If-Match': `W/"${arrival.meta?.versionId}"` } });
  }
  if (isTemporary(arrival)) {
    return {
      patient: arrival,
      outputs: [{ type: 'temporary identity', reference: `Patient/${arrival.id}` }],
      lines: [
        `Unidentified patient: temporary identity "${arrival.name?.[0]?.text}" so that care and orders can start. When identified, merge with POST Patient/$merge-temporary.`,
      ],
      note: 'temporary identity',
    };
  }
  const pool = await candidates(medplum, arrival);
  const result = matchPatient(
    demographicsOf(arrival),
    pool.map((p) => ({ candidate: p, demographics: demographicsOf(p) })),
    thresholds,
    label,
  );
  const lines = [`Master patient index: ${pool.length} candidate record(s) scored. ${result.rationale}`];
  if (result.decision === 'link' && result.best) {
    const target = result.best.candidate;
    if (await isFresh(medplum, arrival, ctx.encounter?.id)) {
      const outcome = await mergeRecords(medplum, arrival.id, target.id, AGENT, `Master patient index: ${result.rationale}`);
      lines.push(
        `The arrival's record Patient/${arrival.id} was merged into ${label(target)}; moved: ${outcome.moved.join(', ') || 'nothing'}.`,
      );
      return {
        patient: outcome.target,
        outputs: [
          { type: 'patient record', reference: `Patient/${target.id}` },
          ...(outcome.provenance ? [{ type: 'merge provenance', reference: outcome.provenance }] : []),
        ],
        lines,
        note: 'linked to existing record',
      };
    }
    lines.push(`Patient/${arrival.id} has other visits: two established records are never merged automatically.`);
  }
  if (result.decision !== 'new') {
    const why = result.decision === 'link' ? `Possible duplicate records: ${result.rationale}` : result.rationale;
    const task = await createOnce(medplum, {
      bot: BOT_NAME,
      trigger: ctx.trigger,
      effect: 'confirm-match',
      resource: confirmTask(ctx, arrival, result, why),
    });
    lines.push(`A registration clerk confirms: Task/${task.id}.`);
    return {
      patient: arrival,
      outputs: [{ type: 'patient match to confirm', reference: `Task/${task.id}` }],
      lines,
      note: 'match to confirm',
    };
  }
  return { patient: arrival, outputs: [{ type: 'new patient', reference: `Patient/${arrival.id}` }], lines, note: 'new patient' };
}

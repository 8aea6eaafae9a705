/**
 * `POST Patient/$merge-temporary`: a registration clerk (any staff member) merges a patient
 * record into the patient's real one — a temporary identity once the patient is identified, or the
 * arrival's record when confirming the master patient index's suggestion (`task`, the
 * confirm-patient-match Task, is then completed). Idempotent: merging again answers the same.
 */
import type { MedplumClient } from '@medplum/core';
import type { Parameters, ParametersParameter, Reference, Task } from '@medplum/fhirtypes';
import { CONFIRM_MATCH_TASK } from './codes.ts';
import { isTemporary, replacedBy } from './identity.ts';
import { mergeRecords } from './merge-records.ts';

const PATIENT_REF = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const TASK_REF = /^Task\/([A-Za-z0-9\-.]{1,64})$/;

function one(params: ParametersParameter[], name: string): ParametersParameter | undefined {
  const found = params.filter((p) => p.name === name);
  if (found.length > 1) throw new Error(`Parameter "${name}" may be given only once`);
  return found[0];
}

function idParam(params: ParametersParameter[], name: string, re: RegExp, required: boolean): string | undefined {
  const reference = one(params, name)?.valueReference?.reference;
  if (!reference) {
    if (required) throw new Error(`Parameter "${name}" (a Reference like ${re === PATIENT_REF ? 'Patient' : 'Task'}/id) is required`);
    return undefined;
  }
  const m = re.exec(reference);
  if (!m) throw new Error(`Parameter "${name}": "${reference}" is not a ${re === PATIENT_REF ? 'Patient' : 'Task'} reference`);
  return m[1];
}

export async function mergeTemporary(medplum: MedplumClient, input: Parameters, requester: Reference | undefined): Promise<Parameters> {
  if (!requester?.reference || !/^(Practitioner|PractitionerRole)\//.test(requester.reference)) {
    throw new Error(`Only staff (a Practitioner) may merge patient records; the caller is ${requester?.reference ?? 'unknown'}`);
  }
  const params = input.parameter ?? [];
  const sourceId = idParam(params, 'source', PATIENT_REF, true) as string;
  const targetId = idParam(params, 'target', PATIENT_REF, true) as string;
  const taskId = idParam(params, 'task', TASK_REF, false);
  const reason = one(params, 'reason')?.valueString?.trim();
  if (sourceId === targetId) throw new Error('"source" and "target" are the same patient');
  const [source, target] = await Promise.all([
    medplum.readResource('Patient', sourceId, { cache: 'no-cache' }),
    medplum.readResource('Patient', targetId, { cache: 'no-cache' }),
  ]);
  const sourceMergedInto = replacedBy(source);
  if (sourceMergedInto === `Patient/${targetId}`) {
    return answer(`Patient/${targetId}`, [], undefined, 'already merged');
  }
  if (sourceMergedInto) throw new Error(`Patient/${sourceId} was already merged into ${sourceMergedInto}`);
  if (replacedBy(target) || target.active === false)
    throw new Error(`Patient/${targetId} is not an active record (it was merged or deactivated)`);
  if (isTemporary(target)) throw new Error(`Patient/${targetId} is itself a temporary identity: merge into the patient's real record`);
  let task: Task | undefined;
  if (taskId) {
    task = await medplum.readResource('Task', taskId, { cache: 'no-cache' });
    const isConfirm = task.code?.coding?.some((c) => c.system === CONFIRM_MATCH_TASK.system && c.code === CONFIRM_MATCH_TASK.code);
    if (!isConfirm || task.for?.reference !== `Patient/${sourceId}`) {
      throw new Error(`Task/${taskId} is not a patient-match confirmation for Patient/${sourceId}`);
    }
  } else if (!isTemporary(source)) {
    throw new Error(`Patient/${sourceId} is not a temporary identity: to merge an arrival's record, pass the confirm-patient-match "task"`);
  }
  const why = reason ?? (task ? 'registration clerk confirmed the suggested match' : 'temporary identity identified');
  const result = await mergeRecords(medplum, sourceId, targetId, requester, `${why} (by ${requester.reference})`);
  if (task && task.status !== 'completed') {
    await medplum.updateResource<Task>({
      ...task,
      status: 'completed',
      lastModified: new Date().toISOString(),
      output: [{ type: { text: 'merged into' }, valueReference: { reference: `Patient/${targetId}` } }],
    });
  }
  return answer(`Patient/${targetId}`, result.moved, result.provenance, 'merged');
}

function answer(target: string, moved: string[], provenance: string | undefined, outcome: string): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'outcome', valueCode: outcome },
      { name: 'result', valueReference: { reference: target } },
      { name: 'moved', valueInteger: moved.length },
      ...moved.map((reference) => ({ name: 'moved-resource', valueReference: { reference } })),
      ...(provenance ? [{ name: 'provenance', valueReference: { reference: provenance } }] : []),
    ],
  };
}

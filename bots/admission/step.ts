/**
 * The `admission` step (registration and identity) of the emergency workflow. It runs after triage
 * and gates nothing clinical (EMTALA): identity first (temporary identity, or the master patient
 * index), then the bed, then ID verification and insurance — each of the last three reports its
 * own problem as a line of the rationale instead of failing the step.
 */
import type { WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { assignBed } from './assign-bed.ts';
import { checkCoverage } from './check-coverage.ts';
import { register } from './register.ts';
import { verifyId } from './verify-id.ts';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function admissionStep(ctx: StepContext): Promise<StepOutcome> {
  if (!ctx.encounter || !ctx.patient) {
    return {
      note: 'nothing to register',
      rationale: `The admission step needs an encounter and its patient; Task/${ctx.task.id} has ${ctx.task.focus?.reference ?? 'no focus'}.`,
    };
  }
  const registration = await register(ctx);
  const outputs: StepOutput[] = [...registration.outputs];
  const lines = [...registration.lines];
  const patient: WithId<Patient> = registration.patient;
  const encounterId = ctx.encounter.id;
  const steps: [string, () => Promise<{ outputs: StepOutput[]; line: string }>][] = [
    ['Bed', () => assignBed(ctx.medplum, encounterId)],
    [
      'ID',
      () =>
        registration.note === 'temporary identity'
          ? Promise.resolve({ outputs: [], line: 'ID: not checked (temporary identity).' })
          : verifyId(ctx, patient),
    ],
    ['Insurance', () => checkCoverage(ctx, patient)],
  ];
  for (const [name, run] of steps) {
    try {
      const result = await run();
      outputs.push(...result.outputs);
      lines.push(result.line);
    } catch (err) {
      lines.push(`${name}: failed (${message(err)}); registration staff follow up. Care is not affected.`);
    }
  }
  return { outputs, rationale: lines.join('\n'), note: registration.note };
}

/**
 * The `legal` step of the emergency workflow: the arrival is assessed against the mandatory-report
 * rules of the hospital's jurisdiction (assess.ts). The step's own Task says only that it ran
 * (its business status is visible to family members); what was found is in its outputs and
 * rationale, which the family's policy hides, and in restricted resources.
 */
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { assessEncounter, assessmentRationale } from './assess.ts';

export async function legalStep(ctx: StepContext): Promise<StepOutcome> {
  if (!ctx.encounter || !ctx.patient) {
    return {
      rationale: `The legal step needs an encounter and its patient; Task/${ctx.task.id} has ${ctx.task.focus?.reference ?? 'no focus'}.`,
    };
  }
  const assessment = await assessEncounter(ctx.medplum, ctx.encounter, ctx.patient, ctx.secrets);
  const outputs: StepOutput[] = assessment.written.flatMap((w) => [
    { type: 'legal finding', reference: w.issue },
    { type: w.action === 'document' ? 'legal documentation task' : 'legal report task', reference: w.report },
  ]);
  return { outputs, rationale: assessmentRationale(assessment) };
}

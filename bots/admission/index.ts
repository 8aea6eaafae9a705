/**
 * The admission agent (registration and identity). Inputs:
 * - a workflow Task of the `admission` step → identity (temporary identity or master patient
 *   index), bed, ID verification, insurance eligibility (step.ts);
 * - Parameters of `Patient/$merge-temporary` (`source`, `target`, …) → merge-operation.ts.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Parameters, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { mergeTemporary } from './merge-operation.ts';
import { admissionStep } from './step.ts';

export async function handler(medplum: MedplumClient, event: BotEvent<Task | Parameters>): Promise<unknown> {
  const input = event.input as { resourceType?: string } | undefined;
  switch (input?.resourceType) {
    case 'Task':
      return runStep(medplum, event as BotEvent<Task>, admissionStep);
    case 'Parameters':
      return mergeTemporary(medplum, input as Parameters, event.requester);
    default:
      throw new Error(
        `The admission agent expects a workflow Task or the Parameters of $merge-temporary, got ${input?.resourceType ?? typeof input}`,
      );
  }
}

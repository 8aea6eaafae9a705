/**
 * The medical records agent. Inputs:
 * - a workflow Task of the `medical-records` step → the patient summary and alerts (step.ts);
 * - a MedicationRequest that became active → the new order checked against allergies and the
 *   other active orders (recheck.ts).
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { recheckOrder } from './recheck.ts';
import { medicalRecordsStep } from './step.ts';

export async function handler(medplum: MedplumClient, event: BotEvent<Task | MedicationRequest>): Promise<unknown> {
  const input = event.input as { resourceType?: string } | undefined;
  switch (input?.resourceType) {
    case 'Task':
      return runStep(medplum, event as BotEvent<Task>, medicalRecordsStep);
    case 'MedicationRequest':
      return recheckOrder(medplum, input as MedicationRequest);
    default:
      throw new Error(
        `The medical records agent expects a workflow Task or a MedicationRequest, got ${input?.resourceType ?? typeof input}`,
      );
  }
}

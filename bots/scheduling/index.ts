/**
 * The scheduling agent. Inputs:
 * - a workflow Task of the `scheduling` step → the encounter's follow-up requests booked (step.ts);
 * - an Appointment created or changed (FHIR API, `$book`, HL7 SIU) → its slots kept consistent (reconcile.ts);
 * - the operations: `Slot/$find`, `Appointment/$book`, `Appointment/$reschedule` (operations.ts);
 * - `{ "action": "send-due-reminders" }` (cron or `$execute`) → due reminders handed to the communication agent.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Appointment, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { sendDueReminders } from './notify.ts';
import { book, find, inputValues, move, runOperation } from './operations.ts';
import { reconcileAppointment } from './reconcile.ts';
import { schedulingStep } from './step.ts';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const input = event.input as { resourceType?: string; action?: string } | undefined;
  if (input?.resourceType === 'Task') return runStep(medplum, event as BotEvent<Task>, schedulingStep);
  if (input?.resourceType === 'Appointment') return reconcileAppointment(medplum, input as WithId<Appointment>);
  if (input?.action === 'send-due-reminders') return sendDueReminders(medplum);
  const values = inputValues(input);
  if ('appointment' in values) return runOperation(() => move(medplum, values));
  if ('slot' in values) return runOperation(() => book(medplum, values));
  return runOperation(() => find(medplum, values));
}

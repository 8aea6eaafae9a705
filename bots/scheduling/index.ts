/**
 * The scheduling agent. Inputs:
 * - a workflow Task of the `scheduling` step → the encounter's follow-up requests booked (step.ts);
 * - an Appointment created or changed (FHIR API, `$book`, HL7 SIU) → its slots kept consistent (reconcile.ts);
 * - the operations: `Slot/$find`, `Appointment/$book`, `Appointment/$reschedule` (operations.ts);
 * - `{ "action": "send-due-reminders" }` (`$execute`) or a cron run (the Bot as input) → due reminders handed to the
 *   communication agent; every Task or Appointment event also runs that sweep after its own work.
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
  // A cron run gets the Bot itself as input (Medplum's convention).
  if (input?.action === 'send-due-reminders' || input?.resourceType === 'Bot') return sendDueReminders(medplum);
  if (input?.resourceType === 'Task') {
    return withReminderSweep(medplum, await runStep(medplum, event as BotEvent<Task>, schedulingStep));
  }
  if (input?.resourceType === 'Appointment') {
    return withReminderSweep(medplum, await reconcileAppointment(medplum, input as WithId<Appointment>));
  }
  const values = inputValues(input);
  if ('appointment' in values) return runOperation(() => move(medplum, values));
  if ('slot' in values) return runOperation(() => book(medplum, values));
  return runOperation(() => find(medplum, values));
}

/**
 * Every scheduling event (a step Task, an Appointment change) also sends the reminders that have
 * come due, so they go out without a cron. The event's own work is done by then; a failing sweep
 * is logged and retried by the next event, never failing the event.
 */
async function withReminderSweep<T>(medplum: MedplumClient, result: T): Promise<T> {
  try {
    const { activated } = await sendDueReminders(medplum);
    if (activated.length) console.log(`reminders due: ${activated.join(', ')}`);
  } catch (err) {
    console.log(`reminder sweep failed (the next event retries): ${err instanceof Error ? err.message : String(err)}`);
  }
  return result;
}

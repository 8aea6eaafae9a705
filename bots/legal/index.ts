/**
 * The legal liaison agent. Inputs:
 * - a workflow Task of the `legal` step → the arrival assessed against the jurisdiction's
 *   mandatory-report rules (step.ts);
 * - a Condition or a laboratory Observation added to an open emergency encounter → assessed again
 *   (recheck.ts);
 * - the operations (Parameters, told apart by their parameters):
 *   `Task/$approve-report` (`task`, `decision`) → approve.ts,
 *   `Task/$legal-case-event` (`case`, `event`) → case.ts,
 *   `DocumentReference/$custody-handover` (`evidence`, `to`) → custody.ts.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Condition, Observation, Parameters, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { approveReport } from './approve.ts';
import { recordCaseEvent } from './case.ts';
import { handOver } from './custody.ts';
import { reassess } from './recheck.ts';
import { legalStep } from './step.ts';

export async function handler(medplum: MedplumClient, event: BotEvent<Task | Condition | Observation | Parameters>): Promise<unknown> {
  const input = event.input as { resourceType?: string } | undefined;
  switch (input?.resourceType) {
    case 'Task':
      return runStep(medplum, event as BotEvent<Task>, legalStep);
    case 'Condition':
    case 'Observation':
      return reassess(medplum, input as Condition | Observation, event.secrets);
    case 'Parameters': {
      const names = new Set(((input as Parameters).parameter ?? []).map((p) => p.name));
      if (names.has('decision')) return approveReport(medplum, input, event.requester);
      if (names.has('event')) return recordCaseEvent(medplum, input, event.requester);
      if (names.has('evidence')) return handOver(medplum, input, event.requester);
      throw new Error('Unknown legal operation: expected the parameters of $approve-report, $legal-case-event or $custody-handover');
    }
    default:
      throw new Error(
        `The legal agent expects a workflow Task, a Condition, an Observation or Parameters, got ${input?.resourceType ?? typeof input}`,
      );
  }
}

/**
 * The smart health device agent. Inputs:
 * - a vital-sign Observation from a device that could raise an alert (its Subscription leaves out
 *   quiet readings, whose own NEWS2 sub-score is 0: reading-filter.ts says why that is safe) →
 *   assess the patient's latest vitals (NEWS2, thresholds, trends); a critical finding raises a Flag
 *   and a DetectedIssue, pages the on-call team and starts `emergency_device`; repeated alarms are
 *   de-duplicated;
 * - a Device (updated, e.g. its battery) → its health (battery, silence);
 * - a workflow Task for the `smart-device` step → see step.ts;
 * - a cron run every minute (`{}`, the Bot, or `{ "action": "device-health" }`) → every linked
 *   device's health and last-seen time (which is how a device that stopped sending is noticed), and
 *   the trends that quiet readings can end (monitor.ts: checkAllDevices).
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Device, Observation, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { checkAllDevices, checkDevice, checkObservation } from './monitor.ts';
import { smartDeviceStep } from './step.ts';

export async function handler(
  medplum: MedplumClient,
  event: BotEvent<Observation | Device | Task | Record<string, unknown>>,
): Promise<unknown> {
  const input = event.input as { resourceType?: string } | undefined;
  switch (input?.resourceType) {
    case 'Observation':
      return checkObservation(medplum, input as Observation);
    case 'Device':
      return checkDevice(medplum, input as Device);
    case 'Task':
      return runStep(medplum, event as BotEvent<Task>, smartDeviceStep);
    default: {
      const results = await checkAllDevices(medplum);
      const raised = results.filter((r) => r.written.length > 0);
      console.log(`device health: ${results.length} device(s) checked, ${raised.length} with new alerts`);
      return { checked: results.length, alerts: raised };
    }
  }
}

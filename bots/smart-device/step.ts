/**
 * The smart-device step of the workflows (docs/workflows.md):
 * - `emergency` (an Encounter): which devices the patient wears and what they say now;
 * - `device_scan` (a Device just linked): the device is checked and its link confirmed;
 * - `emergency_device` (a Device that raised a critical finding): the finding is confirmed on the
 *   newest data, so the responders know whether it still holds.
 */
import type { MedplumClient } from '@medplum/core';
import type { Device, Observation } from '@medplum/fhirtypes';
import type { StepContext, StepOutcome, StepOutput } from '../lib/workflow-step.ts';
import { ageInDays, DAYS_PER_YEAR } from '../triage/age.ts';
import { assessVitals } from './assess.ts';
import { checkDeviceHealth, deviceStatus } from './device-health.ts';
import { hasNextPage, truncationNote, VITALS_LIMIT } from './vitals.ts';

const WINDOW_MINUTES = 60;

/** The patient's vital signs of the last WINDOW_MINUTES, newest first, and a note when there were more. */
async function recentVitals(medplum: MedplumClient, patient: string): Promise<{ observations: Observation[]; note?: string }> {
  const since = new Date(Date.now() - WINDOW_MINUTES * 60_000).toISOString();
  const bundle = await medplum.search(
    'Observation',
    { subject: patient, category: 'vital-signs', date: `ge${since}`, _sort: '-date', _count: String(VITALS_LIMIT) },
    { cache: 'no-cache' },
  );
  const observations = (bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Observation' ? [e.resource] : []));
  return { observations, note: truncationNote(observations.length, hasNextPage(bundle), WINDOW_MINUTES) };
}

/** assessVitals on the recent vitals, the truncation note (if any) ending its rationale. */
async function assessRecent(medplum: MedplumClient, patient: string, age: { ageYears?: number }) {
  const { observations, note } = await recentVitals(medplum, patient);
  const assessment = assessVitals(observations, age);
  return { observations, assessment: note ? { ...assessment, rationale: `${assessment.rationale}\n${note}` } : assessment };
}

function describe(device: Device): string {
  const name = device.deviceName?.[0]?.name ?? device.type?.text ?? device.type?.coding?.[0]?.display ?? 'device';
  return `${name}${device.serialNumber ? ` (serial ${device.serialNumber})` : ''}`;
}

function battery(device: Device): string {
  const status = deviceStatus(device);
  return status.batteryPercent === undefined ? 'battery not reported' : `battery ${status.batteryPercent} %`;
}

export async function smartDeviceStep(ctx: StepContext): Promise<StepOutcome> {
  const { medplum, patient } = ctx;
  const patientRef = patient ? `Patient/${patient.id}` : undefined;
  const days = ageInDays(patient?.birthDate, new Date().toISOString());
  const age = { ageYears: days === undefined ? undefined : days / DAYS_PER_YEAR };

  if (ctx.device) {
    const device = ctx.device;
    if (device.status === 'inactive' || device.status === 'entered-in-error') {
      throw new Error(`${describe(device)} is ${device.status}: it cannot monitor a patient`);
    }
    if (!device.patient?.reference) {
      throw new Error(`${describe(device)} is not linked to a patient`);
    }
    const health = checkDeviceHealth(deviceStatus(device), new Date().toISOString());
    const outputs: StepOutput[] = [{ type: 'device', reference: `Device/${device.id}` }];
    const lines = [`${describe(device)} linked to ${device.patient.reference}; ${battery(device)}`];
    lines.push(...health.filter((f) => f.severity !== 'info').map((f) => `device: ${f.text}`));
    const { observations, assessment } = await assessRecent(medplum, device.patient.reference, age);
    lines.push(assessment.rationale);
    if (observations.length === 0) {
      lines.push('No vital signs from the device in the last hour yet.');
    }
    const emergency = ctx.task.identifier?.some((i) => i.value?.includes('/PlanDefinition/emergency_device|'));
    return {
      outputs,
      rationale: lines.join('\n'),
      note: emergency
        ? assessment.critical
          ? 'critical finding confirmed on the newest data'
          : 'finding not present on the newest data: review the alert'
        : 'device linked',
    };
  }

  if (!patientRef) {
    return { note: 'no patient: nothing to link', rationale: 'The step has no patient to look for devices of.' };
  }
  const devices = await medplum.searchResources('Device', { patient: patientRef, _count: '50' }, { cache: 'no-cache' });
  const inUse = devices.filter((d) => d.status !== 'inactive' && d.status !== 'entered-in-error');
  if (inUse.length === 0) {
    return { note: 'no devices', rationale: 'The patient has no device linked; nothing to monitor.' };
  }
  const { assessment } = await assessRecent(medplum, patientRef, age);
  return {
    outputs: inUse.map((d) => ({ type: 'device', reference: `Device/${d.id}` })),
    note: `${inUse.length} device${inUse.length === 1 ? '' : 's'} linked`,
    rationale: [...inUse.map((d) => `${describe(d)}: ${battery(d)}`), assessment.rationale].join('\n'),
  };
}

/**
 * Device health: battery level and last-seen time → alerts. Battery comes from the Device
 * (`property` coded MDC_ATTR_VAL_BATT_CHARGE, as in the HL7 Personal Health Device IG) or from the
 * latest battery Observation (same code); last seen is the later of the Device's last-seen extension
 * and the newest Observation from it. A device that stopped sending is as dangerous as a bad value:
 * nobody is watching the patient.
 */
import type { CodeableConcept, Device, Observation } from '@medplum/fhirtypes';
import type { Finding } from './findings.ts';

/** ISO/IEEE 11073-10101 MDC_ATTR_VAL_BATT_CHARGE (battery charge, %). */
export const MDC_SYSTEM = 'urn:iso:std:iso:11073:10101';
export const MDC_BATTERY_CHARGE = '67996';
/** Where the device's last contact is recorded (the device integrator or the bot keeps it current). */
export const DEVICE_LAST_SEEN_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/device-last-seen';

export interface DeviceStatus {
  batteryPercent?: number;
  batteryTime?: string;
  lastSeen?: string;
}

export interface DeviceHealthSettings {
  /** Default 20 %: warning. */
  lowBatteryPercent?: number;
  /** Default 10 %: critical (a few minutes of monitoring left). */
  criticalBatteryPercent?: number;
  /** No data for this long is an alert; default 10 min. */
  silenceMinutes?: number;
}

const isBattery = (concept: CodeableConcept | undefined) =>
  (concept?.coding ?? []).some((c) => c.system === MDC_SYSTEM && c.code === MDC_BATTERY_CHARGE);

function effective(obs: Observation): string | undefined {
  return obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.end ?? obs.effectivePeriod?.start ?? obs.issued;
}

const later = (a: string | undefined, b: string | undefined) => (!a ? b : !b ? a : Date.parse(a) >= Date.parse(b) ? a : b);

/** Battery and last-seen from the Device and the Observations it sent (any order). */
export function deviceStatus(device: Device, observations: Observation[] = []): DeviceStatus {
  const status: DeviceStatus = {};
  const property = device.property?.find((p) => isBattery(p.type));
  const fromProperty = property?.valueQuantity?.find((q) => q.code === '%' || q.unit === '%')?.value;
  if (fromProperty !== undefined) status.batteryPercent = fromProperty;
  let lastSeen = device.extension?.find((e) => e.url === DEVICE_LAST_SEEN_EXTENSION)?.valueDateTime;
  for (const obs of observations) {
    const time = effective(obs);
    lastSeen = later(lastSeen, time);
    if (isBattery(obs.code) && obs.valueQuantity?.code === '%' && obs.valueQuantity.value !== undefined) {
      if (!status.batteryTime || (time && Date.parse(time) > Date.parse(status.batteryTime))) {
        status.batteryPercent = obs.valueQuantity.value;
        status.batteryTime = time;
      }
    }
  }
  if (lastSeen) status.lastSeen = lastSeen;
  return status;
}

export function checkDeviceHealth(status: DeviceStatus, now: string, settings: DeviceHealthSettings = {}): Finding[] {
  const low = settings.lowBatteryPercent ?? 20;
  const critical = settings.criticalBatteryPercent ?? 10;
  const silenceMs = (settings.silenceMinutes ?? 10) * 60_000;
  const findings: Finding[] = [];
  const battery = status.batteryPercent;
  if (battery !== undefined && battery <= low) {
    findings.push({
      code: 'device:battery-low',
      kind: 'device',
      severity: battery <= critical ? 'critical' : 'warning',
      text: `battery ${battery} % ≤ ${battery <= critical ? critical : low} %`,
      values: { batteryPercent: battery },
      time: status.batteryTime,
    });
  }
  if (!status.lastSeen) {
    findings.push({ code: 'device:never-seen', kind: 'device', severity: 'info', text: 'no data received from this device yet' });
  } else {
    const silentMs = Date.parse(now) - Date.parse(status.lastSeen);
    if (silentMs >= silenceMs) {
      findings.push({
        code: 'device:silent',
        kind: 'device',
        severity: 'warning',
        text: `no data for ${Math.round(silentMs / 60_000)} min (limit ${silenceMs / 60_000} min): the patient is not being monitored`,
        values: { lastSeen: status.lastSeen, silentMinutes: Math.round(silentMs / 60_000) },
        time: status.lastSeen,
      });
    }
  }
  return findings;
}

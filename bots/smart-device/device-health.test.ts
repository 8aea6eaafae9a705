import type { Device } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { checkDeviceHealth, DEVICE_LAST_SEEN_EXTENSION, deviceStatus, MDC_BATTERY_CHARGE, MDC_SYSTEM } from './device-health.ts';
import { at, hr, vital } from './test-helpers.ts';

const device: Device = {
  resourceType: 'Device',
  id: 'd1',
  extension: [{ url: DEVICE_LAST_SEEN_EXTENSION, valueDateTime: at(0) }],
  property: [
    {
      type: { coding: [{ system: MDC_SYSTEM, code: MDC_BATTERY_CHARGE, display: 'MDC_ATTR_VAL_BATT_CHARGE' }] },
      valueQuantity: [{ value: 64, unit: '%', code: '%' }],
    },
  ],
};

test('battery and last seen from the Device', () => {
  expect(deviceStatus(device)).toEqual({ batteryPercent: 64, lastSeen: at(0) });
});

test('a newer battery Observation and newer data win', () => {
  const battery = (v: number, m: number) => {
    const obs = vital('x', v, '%', m);
    obs.code = { coding: [{ system: MDC_SYSTEM, code: MDC_BATTERY_CHARGE }] };
    return obs;
  };
  expect(deviceStatus(device, [battery(30, 5), battery(18, 9), battery(25, 7), hr(80, 12)])).toEqual({
    batteryPercent: 18,
    batteryTime: at(9),
    lastSeen: at(12),
  });
});

test('low battery warns, very low is critical', () => {
  expect(checkDeviceHealth({ batteryPercent: 21, lastSeen: at(0) }, at(1))).toEqual([]);
  expect(checkDeviceHealth({ batteryPercent: 20, lastSeen: at(0) }, at(1))).toMatchObject([
    { code: 'device:battery-low', severity: 'warning' },
  ]);
  expect(checkDeviceHealth({ batteryPercent: 8, lastSeen: at(0) }, at(1))).toMatchObject([
    { code: 'device:battery-low', severity: 'critical', text: 'battery 8 % ≤ 10 %' },
  ]);
  expect(checkDeviceHealth({ batteryPercent: 35, lastSeen: at(0) }, at(1), { lowBatteryPercent: 40 })[0].code).toBe('device:battery-low');
});

test('a device that stopped sending raises an alert after the configured silence', () => {
  expect(checkDeviceHealth({ lastSeen: at(0) }, at(9))).toEqual([]);
  const [f] = checkDeviceHealth({ lastSeen: at(0) }, at(10));
  expect(f).toMatchObject({ code: 'device:silent', severity: 'warning', values: { silentMinutes: 10 } });
  expect(f.text).toContain('the patient is not being monitored');
  expect(checkDeviceHealth({ lastSeen: at(0) }, at(4), { silenceMinutes: 3 })[0].code).toBe('device:silent');
  expect(checkDeviceHealth({}, at(0))).toMatchObject([{ code: 'device:never-seen', severity: 'info' }]);
});

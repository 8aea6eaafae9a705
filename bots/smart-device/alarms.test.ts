import { expect, test } from 'vitest';
import { decideAlarm, decideAlarms, type OpenAlert } from './alarms.ts';
import type { Finding } from './findings.ts';
import { at } from './test-helpers.ts';

const finding = (code: string, severity: Finding['severity']): Finding => ({ code, kind: 'threshold', severity, text: code });
const open: OpenAlert[] = [
  { code: 'threshold:spo2-low', severity: 'warning', raisedAt: at(0), lastNotifiedAt: at(10), reference: 'Flag/f1' },
];

test('a new problem raises an alert', () => {
  expect(decideAlarm(finding('trend:spo2-falling', 'critical'), open, at(12))).toMatchObject({ action: 'raise', notify: true });
  expect(decideAlarm(finding('device:never-seen', 'info'), [], at(0))).toMatchObject({ action: 'raise', notify: false });
});

test('the same problem again is suppressed as a duplicate', () => {
  const d = decideAlarm(finding('threshold:spo2-low', 'warning'), open, at(25));
  expect(d).toMatchObject({ action: 'suppress', notify: false, existing: open[0] });
  expect(d.reason).toBe('duplicate of open warning alert threshold:spo2-low (Flag/f1), notified 15 min ago');
  // A milder repeat of a worse alert is suppressed too.
  const critical: OpenAlert[] = [{ code: 'threshold:spo2-low', severity: 'critical', raisedAt: at(0) }];
  expect(decideAlarm(finding('threshold:spo2-low', 'warning'), critical, at(5)).action).toBe('suppress');
});

test('worse than the open alert: escalate at once', () => {
  expect(decideAlarm(finding('threshold:spo2-low', 'critical'), open, at(11))).toMatchObject({ action: 'escalate', notify: true });
});

test('still present after the re-alert interval: remind', () => {
  expect(decideAlarm(finding('threshold:spo2-low', 'warning'), open, at(40))).toMatchObject({ action: 'remind', notify: true });
  expect(decideAlarm(finding('threshold:spo2-low', 'warning'), open, at(40), { realertMinutes: 60 }).action).toBe('suppress');
});

test('a batch is collapsed per code, keeping the most severe', () => {
  const decisions = decideAlarms(
    [finding('a', 'warning'), finding('a', 'critical'), finding('threshold:spo2-low', 'warning')],
    open,
    at(12),
  );
  expect(decisions.map((d) => [d.finding.code, d.finding.severity, d.action])).toEqual([
    ['a', 'critical', 'raise'],
    ['threshold:spo2-low', 'warning', 'suppress'],
  ]);
});

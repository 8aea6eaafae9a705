/**
 * Alarm de-duplication. Repeated identical alarms are a clinical hazard (alarm fatigue), so a
 * finding that matches an open alert (same code) is suppressed — unless it is worse than that
 * alert (escalate) or the re-alert interval has passed since staff were last notified (remind).
 * The caller passes the open alerts for the same patient/device.
 */
import { type Finding, SEVERITY_RANK, type Severity } from './findings.ts';

export interface OpenAlert {
  code: string;
  severity: Severity;
  raisedAt: string;
  /** Last time staff were paged about it (default raisedAt). */
  lastNotifiedAt?: string;
  /** e.g. "Flag/123", for the handler to update. */
  reference?: string;
}

export interface AlarmSettings {
  /** A still-present problem is re-announced after this long; default 30 min. */
  realertMinutes?: number;
}

export type AlarmAction = 'raise' | 'suppress' | 'escalate' | 'remind';

export interface AlarmDecision {
  action: AlarmAction;
  finding: Finding;
  /** The open alert it matched. */
  existing?: OpenAlert;
  reason: string;
  /** Whether staff should be notified now. */
  notify: boolean;
}

export const DEFAULT_REALERT_MINUTES = 30;

export function decideAlarm(finding: Finding, open: OpenAlert[], now: string, settings: AlarmSettings = {}): AlarmDecision {
  const realertMs = (settings.realertMinutes ?? DEFAULT_REALERT_MINUTES) * 60_000;
  const same = open.filter((a) => a.code === finding.code);
  if (same.length === 0)
    return { action: 'raise', finding, reason: `new ${finding.severity} alert ${finding.code}`, notify: finding.severity !== 'info' };
  // Compare with the most severe, most recently notified matching alert.
  const existing = same.reduce((a, b) =>
    SEVERITY_RANK[b.severity] > SEVERITY_RANK[a.severity] ||
    (b.severity === a.severity && Date.parse(b.lastNotifiedAt ?? b.raisedAt) > Date.parse(a.lastNotifiedAt ?? a.raisedAt))
      ? b
      : a,
  );
  if (SEVERITY_RANK[finding.severity] > SEVERITY_RANK[existing.severity]) {
    return {
      action: 'escalate',
      finding,
      existing,
      reason: `${finding.code} worsened from ${existing.severity} to ${finding.severity}`,
      notify: true,
    };
  }
  const since = Date.parse(now) - Date.parse(existing.lastNotifiedAt ?? existing.raisedAt);
  if (since >= realertMs) {
    return {
      action: 'remind',
      finding,
      existing,
      reason: `${finding.code} still present ${Math.round(since / 60_000)} min after the last notification (re-alert every ${realertMs / 60_000} min)`,
      notify: finding.severity !== 'info',
    };
  }
  return {
    action: 'suppress',
    finding,
    existing,
    reason: `duplicate of open ${existing.severity} alert ${existing.code}${existing.reference ? ` (${existing.reference})` : ''}, notified ${Math.round(since / 60_000)} min ago`,
    notify: false,
  };
}

/** Decisions for a batch of findings: one per code (the most severe), each against the open alerts. */
export function decideAlarms(findings: Finding[], open: OpenAlert[], now: string, settings: AlarmSettings = {}): AlarmDecision[] {
  const byCode = new Map<string, Finding>();
  for (const f of findings) {
    const seen = byCode.get(f.code);
    if (!seen || SEVERITY_RANK[f.severity] > SEVERITY_RANK[seen.severity]) byCode.set(f.code, f);
  }
  return [...byCode.values()].map((f) => decideAlarm(f, open, now, settings));
}

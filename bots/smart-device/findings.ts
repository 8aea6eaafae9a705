/** What the device checks produce: findings with a severity, for alarms, Flags and DetectedIssues. */

export type Severity = 'info' | 'warning' | 'critical';

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export interface Finding {
  /** Stable per kind of problem, e.g. "threshold:spo2-low", "trend:spo2-falling", "device:battery-low": alarms de-duplicate on it. */
  code: string;
  kind: 'threshold' | 'trend' | 'news2' | 'device';
  severity: Severity;
  /** Human-readable, with the values that drove it. */
  text: string;
  values?: Record<string, string | number | boolean | null>;
  /** When the driving measurement was taken, and where it came from. */
  time?: string;
  source?: string;
}

export function worstSeverity(findings: Finding[]): Severity | undefined {
  let worst: Severity | undefined;
  for (const f of findings) if (!worst || SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]) worst = f.severity;
  return worst;
}

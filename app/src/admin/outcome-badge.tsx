import { Badge } from '@mantine/core';
import type { AuditEvent } from '@medplum/fhirtypes';

/** An AuditEvent's outcome: 0 ok, 8 dead (a delivery out of retries), anything else failed. */
export function outcomeBadge(e: AuditEvent) {
  const ok = e.outcome === '0';
  return (
    <Badge color={ok ? 'green.9' : e.outcome === '8' ? 'red.9' : 'orange.9'}>{ok ? 'ok' : e.outcome === '8' ? 'dead' : 'failed'}</Badge>
  );
}

import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import type { AttemptResult, DeliveryRow } from './engine.ts';
import type { ActiveSubscription } from './subscription.ts';

export const DELIVERY_SUBTYPE = { system: 'https://emergisphere.org/fhir/CodeSystem/audit-event-subtype', code: 'subscription-delivery' };

/**
 * The AuditEvent of one delivery attempt: which subscription, which resource version, attempt
 * number, HTTP status or bot outcome, duration (period and detail), and what happened next.
 */
export function deliveryAuditEvent(p: {
  row: Pick<
    DeliveryRow,
    'subscription_id' | 'resource_type' | 'id' | 'version_id' | 'interaction' | 'attempts' | 'max_attempts' | 'delivery_id'
  >;
  sub?: ActiveSubscription;
  result: AttemptResult;
  startedAt: Date;
  finalStatus: 'delivered' | 'pending' | 'dead';
}): AuditEvent {
  const { row, sub, result } = p;
  const detail = [
    { type: 'attempt', valueString: `${row.attempts}/${row.max_attempts}` },
    { type: 'interaction', valueString: row.interaction },
    { type: 'duration-ms', valueString: String(result.durationMs) },
    { type: 'delivery', valueString: `${row.delivery_id}:${p.finalStatus}` },
  ];
  if (result.status !== undefined) detail.push({ type: 'status', valueString: String(result.status) });
  if (sub?.endpoint)
    detail.push({
      type: 'endpoint',
      valueString: sub.endpoint.startsWith('Bot/') ? sub.endpoint : new URL(sub.endpoint, 'http://invalid/').origin,
    });
  const entity: AuditEventEntity[] = [
    { what: { reference: `Subscription/${row.subscription_id}` }, role: { code: '21', display: 'Subscriber' } },
    {
      what: { reference: `${row.resource_type}/${row.id}/_history/${row.version_id}` },
      role: { code: '4', display: 'Domain Resource' },
      detail,
    },
  ];
  if (sub?.endpoint?.startsWith('Bot/')) entity.push({ what: { reference: sub.endpoint }, role: { code: '22', display: 'Bot' } });
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' },
    subtype: [DELIVERY_SUBTYPE],
    action: 'E',
    period: {
      start: p.startedAt.toISOString(),
      end: new Date(p.startedAt.getTime() + Math.max(0, Math.round(result.durationMs))).toISOString(),
    },
    recorded: new Date().toISOString(),
    outcome: result.ok ? '0' : p.finalStatus === 'dead' ? '8' : '4',
    outcomeDesc: result.ok
      ? `Delivered (attempt ${row.attempts}${result.status !== undefined ? `, status ${result.status}` : ''}, ${result.durationMs} ms)`
      : `Attempt ${row.attempts} of ${row.max_attempts} failed: ${result.error ?? `status ${result.status}`}${p.finalStatus === 'dead' ? ' (dead-lettered)' : ''}`,
    agent: [{ type: { text: 'subscription-worker' }, who: { display: 'EmergiSphere subscription worker' }, requestor: false }],
    source: { observer: { display: 'EmergiSphere FHIR server' } },
    entity,
  };
}

import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import type { AttemptResult, DeliveryRow } from './engine.ts';
import type { ActiveSubscription } from './subscription.ts';

export const DELIVERY_SUBTYPE = { system: 'https://emergisphere.org/fhir/CodeSystem/audit-event-subtype', code: 'subscription-delivery' };
/** Bot output kept in a delivery's AuditEvent, in characters (the runtime bounds it already). */
const LOG_LIMIT = 10 * 1024;

/**
 * The AuditEvent of one delivery attempt: which subscription, which resource version, attempt
 * number, HTTP status or bot outcome, duration (period and detail), and what happened next.
 * For a `Bot/{id}` endpoint it is also the bot's execution record (Medplum's `execute` type, the
 * captured console output in outcomeDesc): one AuditEvent per attempt, not a second one.
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
  const bot = sub?.endpoint?.startsWith('Bot/') ? sub.endpoint : undefined;
  if (bot) entity.push({ what: { reference: bot }, role: { code: '22', display: 'Bot' } });
  const summary = result.ok
    ? `Delivered (attempt ${row.attempts}${result.status !== undefined ? `, status ${result.status}` : ''}, ${result.durationMs} ms)`
    : `Attempt ${row.attempts} of ${row.max_attempts} failed: ${result.error ?? `status ${result.status}`}${p.finalStatus === 'dead' ? ' (dead-lettered)' : ''}`;
  const log = result.log ? result.log.slice(-LOG_LIMIT) : '';
  return {
    resourceType: 'AuditEvent',
    type: bot
      ? { system: 'https://medplum.com/CodeSystem/audit-event-type', code: 'execute', display: 'Bot execution' }
      : { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' },
    subtype: bot
      ? [DELIVERY_SUBTYPE, { system: 'http://hl7.org/fhir/restful-interaction', code: 'operation', display: '$execute' }]
      : [DELIVERY_SUBTYPE],
    action: 'E',
    period: {
      start: p.startedAt.toISOString(),
      end: new Date(p.startedAt.getTime() + Math.max(0, Math.round(result.durationMs))).toISOString(),
    },
    recorded: new Date().toISOString(),
    outcome: result.ok ? '0' : p.finalStatus === 'dead' ? '8' : '4',
    outcomeDesc: log ? `${summary}\n${log}` : summary,
    agent: [{ type: { text: 'subscription-worker' }, who: { display: 'EmergiSphere subscription worker' }, requestor: false }],
    source: { observer: { display: 'EmergiSphere FHIR server' } },
    entity,
  };
}

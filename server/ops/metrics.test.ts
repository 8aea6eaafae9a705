import type pg from 'pg';
import { Registry } from 'prom-client';
import { expect, test } from 'vitest';
import { Metrics as BridgeMetrics } from '../../hl7-bridge/metrics.ts';
import { deliveryAuditEvent } from '../subscriptions/audit.ts';
import { OpsMetrics } from './metrics.ts';

const pool = {
  totalCount: 5,
  idleCount: 3,
  waitingCount: 1,
  query: async () => ({ rows: [{ outbox: 0, outboxAge: 0, pending: 0, pendingAge: 0, dead: 0 }] }),
};

function metrics(): { m: OpsMetrics; registry: Registry } {
  const registry = new Registry();
  return { m: new OpsMetrics({ registry, pool: pool as unknown as pg.Pool }), registry };
}

test('HL7 messages by type and ACK code come from the bridge running in the process', async () => {
  const { m, registry } = metrics();
  const bridge = new BridgeMetrics();
  bridge.countMessage('ADT^A04', 'AA');
  bridge.countMessage('ADT^A04', 'AA');
  bridge.countMessage('ORU^R01', 'AE');
  bridge.countMessage('', 'AR');
  bridge.inc('framesReceived', 4);
  m.setHl7Source(() => bridge);
  const text = await registry.metrics();
  expect(text).toContain('emergisphere_hl7_messages{message_type="ADT^A04",ack_code="AA"} 2');
  expect(text).toContain('emergisphere_hl7_messages{message_type="ORU^R01",ack_code="AE"} 1');
  expect(text).toContain('emergisphere_hl7_messages{message_type="unknown",ack_code="AR"} 1');
  expect(text).toContain('emergisphere_hl7_bridge_events{event="framesReceived"} 4');
  expect(text).toContain('emergisphere_db_pool_connections{state="waiting"} 1');
});

test('delivery AuditEvents become attempt counters by channel and outcome', async () => {
  const { m, registry } = metrics();
  const row = {
    subscription_id: 's',
    resource_type: 'Patient',
    id: 'p',
    version_id: 'v',
    interaction: 'create' as const,
    attempts: 1,
    max_attempts: 3,
    delivery_id: '1',
  };
  const sub = { endpoint: 'Bot/b1' } as never;
  m.observeAudit(
    deliveryAuditEvent({ row, sub, result: { ok: true, status: 200, durationMs: 12 }, startedAt: new Date(), finalStatus: 'delivered' }),
  );
  m.observeAudit(
    deliveryAuditEvent({ row, result: { ok: false, status: 500, durationMs: 3 }, startedAt: new Date(), finalStatus: 'pending' }),
  );
  m.observeAudit(
    deliveryAuditEvent({ row: { ...row, attempts: 3 }, result: { ok: false, durationMs: 3 }, startedAt: new Date(), finalStatus: 'dead' }),
  );
  const text = await registry.metrics();
  expect(text).toContain('emergisphere_subscription_delivery_attempts_total{channel="bot",outcome="delivered"} 1');
  expect(text).toContain('emergisphere_subscription_delivery_attempts_total{channel="rest-hook",outcome="retry"} 1');
  expect(text).toContain('emergisphere_subscription_delivery_attempts_total{channel="rest-hook",outcome="dead"} 1');
  expect(text).toMatch(/emergisphere_subscription_delivery_duration_seconds_count\{channel="bot",outcome="delivered"\} 1/);
});

test("the process's memory is reported by kind: resident, V8 heap and native buffers", async () => {
  const { registry } = metrics();
  const text = await registry.metrics();
  const value = (kind: string) => Number(new RegExp(`emergisphere_process_memory_bytes\\{kind="${kind}"\\} (\\d+)`).exec(text)?.[1]);
  for (const kind of ['rss', 'heap_total', 'heap_used', 'external', 'array_buffers']) expect(value(kind)).toBeGreaterThan(0);
  // Resident memory holds the heap V8 has committed, which holds what is in use.
  expect(value('rss')).toBeGreaterThan(value('heap_total'));
  expect(value('heap_total')).toBeGreaterThanOrEqual(value('heap_used'));
});

import type { AuditEvent } from '@medplum/fhirtypes';
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The HL7 bridge's counters as the server reads them (hl7-bridge/metrics.ts, loaded at run time). */
export interface Hl7MetricsSource {
  counters: Record<string, number>;
  /** Messages received by message type (MSH-9) and the ACK code answered. */
  messagesByType?: Map<string, number>;
}

export interface OpsMetricsDeps {
  registry: Registry;
  pool: pg.Pool;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every Prometheus metric of one server instance, on the registry the caller passes in (no
 * default/global registry: two servers in one process, as in tests, keep their own numbers).
 * Gauges that describe shared state (outbox depth, dead letters) are read from PostgreSQL at
 * scrape time, so every instance reports the same cluster-wide value: alert on max(), not sum().
 */
export class OpsMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly fhirOperations: Counter<'interaction' | 'resource_type' | 'status'>;
  readonly botExecutions: Counter<'bot' | 'outcome'>;
  readonly botDuration: Histogram<'bot' | 'outcome'>;
  readonly deliveryAttempts: Counter<'channel' | 'outcome'>;
  readonly deliveryDuration: Histogram<'channel' | 'outcome'>;
  readonly transactionRetries: Counter<'reason'>;
  /** Collections of the process's idle collector (server/ops/idle-gc.ts), observed by the process entry that runs it. */
  readonly idleCollections: Histogram;
  private hl7?: () => Hl7MetricsSource | undefined;
  /** HTTP requests answered since start, as a plain number (the idle collector reads it; server/ops/idle-gc.ts). */
  httpAnswered = 0;
  /** Open websocket connections (the subscription channel's server), read at scrape time. */
  private websocketClients?: () => number;
  /** Websocket notices sent since start, by when (SubscriptionEngine.noticesSent). */
  private websocketNotices?: () => Record<string, number>;

  constructor(deps: OpsMetricsDeps) {
    const registry = deps.registry;
    this.registry = registry;
    const registers = [registry];
    this.httpRequests = new Counter({
      name: 'emergisphere_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'emergisphere_http_request_duration_seconds',
      help: 'HTTP request duration, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.fhirOperations = new Counter({
      name: 'emergisphere_fhir_operations_total',
      help: 'FHIR REST interactions, by interaction, resource type and status',
      labelNames: ['interaction', 'resource_type', 'status'],
      registers,
    });
    this.botExecutions = new Counter({
      name: 'emergisphere_bot_executions_total',
      help: 'Bot executions, by bot and outcome (success|failure)',
      labelNames: ['bot', 'outcome'],
      registers,
    });
    this.botDuration = new Histogram({
      name: 'emergisphere_bot_execution_duration_seconds',
      help: 'Bot execution duration, by bot and outcome',
      labelNames: ['bot', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.deliveryAttempts = new Counter({
      name: 'emergisphere_subscription_delivery_attempts_total',
      help: 'Subscription delivery attempts, by channel (rest-hook|bot) and outcome (delivered|retry|dead)',
      labelNames: ['channel', 'outcome'],
      registers,
    });
    this.deliveryDuration = new Histogram({
      name: 'emergisphere_subscription_delivery_duration_seconds',
      help: 'Duration of one subscription delivery attempt, by channel and outcome',
      labelNames: ['channel', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });

    this.transactionRetries = new Counter({
      name: 'emergisphere_db_transaction_retries_total',
      help: 'Database transactions run again after a conflict, by reason (serialization_failure|deadlock)',
      labelNames: ['reason'],
      registers,
    });
    this.idleCollections = new Histogram({
      name: 'emergisphere_idle_gc_duration_seconds',
      help: 'Full collections run because the process went idle, by pause length (_count: how many ran)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });

    const pool = deps.pool;
    new Gauge({
      name: 'emergisphere_db_pool_connections',
      help: 'PostgreSQL pool connections of this instance, by state (total|idle|waiting = requests waiting for one)',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
    new Gauge({
      name: 'emergisphere_process_memory_bytes',
      help: "This process's memory by kind (rss|heap_total|heap_used|external|array_buffers, as process.memoryUsage())",
      labelNames: ['kind'],
      registers,
      collect() {
        // Where resident memory sits: V8's heap (heap_total) or native (rss minus it: code,
        // malloc'd buffers, thread stacks). Read per scrape; the figures are the process's.
        const m = process.memoryUsage();
        this.set({ kind: 'rss' }, m.rss);
        this.set({ kind: 'heap_total' }, m.heapTotal);
        this.set({ kind: 'heap_used' }, m.heapUsed);
        this.set({ kind: 'external' }, m.external);
        this.set({ kind: 'array_buffers' }, m.arrayBuffers);
      },
    });
    const websocketNotices = () => this.websocketNotices?.() ?? {};
    new Gauge({
      name: 'emergisphere_websocket_notices',
      help: 'Websocket subscription notices sent since start, by when: at the commit of the write, or at its outbox dispatch',
      labelNames: ['at'],
      registers,
      collect() {
        for (const [at, n] of Object.entries(websocketNotices())) this.set({ at }, n);
      },
    });
    const websocketClients = () => this.websocketClients?.() ?? 0;
    new Gauge({
      name: 'emergisphere_websocket_connections',
      help: 'Open websocket subscription connections on this instance',
      registers,
      collect() {
        this.set(websocketClients());
      },
    });

    // One query for the queue gauges, shared by the gauges of one scrape.
    let queue: Promise<QueueState> | undefined;
    const queueState = (): Promise<QueueState> => {
      queue ??= readQueueState(pool).finally(() => {
        setTimeout(() => {
          queue = undefined;
        }, 100).unref();
      });
      return queue;
    };
    new Gauge({
      name: 'emergisphere_subscription_outbox_depth',
      help: 'Committed writes not yet matched against subscriptions (cluster-wide)',
      registers,
      async collect() {
        this.set((await queueState()).outbox);
      },
    });
    new Gauge({
      name: 'emergisphere_subscription_outbox_oldest_seconds',
      help: 'Age of the oldest outbox row (0 when empty): how far dispatch is behind',
      registers,
      async collect() {
        this.set((await queueState()).outboxAge);
      },
    });
    new Gauge({
      name: 'emergisphere_subscription_deliveries',
      help: 'Subscription deliveries by status (pending|dead), cluster-wide',
      labelNames: ['status'],
      registers,
      async collect() {
        const s = await queueState();
        this.set({ status: 'pending' }, s.pending);
        this.set({ status: 'dead' }, s.dead);
      },
    });
    new Gauge({
      name: 'emergisphere_subscription_delivery_lag_seconds',
      help: 'Age of the oldest pending delivery that is due: the delivery latency now',
      registers,
      async collect() {
        this.set((await queueState()).pendingAge);
      },
    });

    const hl7 = () => this.hl7?.();
    new Gauge({
      name: 'emergisphere_hl7_messages',
      help: 'HL7 v2 messages received by the bridge in this process, by message type and ACK code (a counter since start)',
      labelNames: ['message_type', 'ack_code'],
      registers,
      collect() {
        this.reset();
        for (const [key, n] of hl7()?.messagesByType ?? []) {
          const [type, ack] = key.split('|');
          this.set({ message_type: type, ack_code: ack }, n);
        }
      },
    });
    new Gauge({
      name: 'emergisphere_hl7_bridge_events',
      help: "The HL7 bridge's own counters since start (framesReceived, duplicates, outboundSent, ...)",
      labelNames: ['event'],
      registers,
      collect() {
        this.reset();
        for (const [event, n] of Object.entries(hl7()?.counters ?? {})) this.set({ event }, n);
      },
    });
  }

  setWebsocketClients(count: () => number): void {
    this.websocketClients = count;
  }

  setWebsocketNotices(counts: () => Record<string, number>): void {
    this.websocketNotices = counts;
  }

  /** Lets the HL7 bridge, started after the server, be scraped with it. */
  setHl7Source(source: () => Hl7MetricsSource | undefined): void {
    this.hl7 = source;
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpAnswered++;
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  observeFhir(interaction: string, resourceType: string, status: number): void {
    this.fhirOperations.inc({ interaction, resource_type: resourceType, status: String(status) });
  }

  /**
   * Reads what a recorded AuditEvent says about bot executions and subscription deliveries, so the
   * runtime and the delivery workers need no metrics code of their own.
   */
  observeAudit(event: AuditEvent): void {
    const delivery = event.subtype?.some((s) => s.code === 'subscription-delivery') ?? false;
    const execute = event.type?.code === 'execute' && event.type.system === 'https://medplum.com/CodeSystem/audit-event-type';
    // A delivery to a bot is recorded once, as a delivery that is also the bot's execution.
    const bot = event.entity?.find((e) => e.what?.reference?.startsWith('Bot/'))?.what?.reference;
    if (delivery) {
      const next = detail(event, 'delivery')?.split(':')[1];
      const outcome = event.outcome === '0' ? 'delivered' : next === 'dead' ? 'dead' : 'retry';
      const channel = bot ? 'bot' : 'rest-hook';
      this.deliveryAttempts.inc({ channel, outcome });
      const ms = Number(detail(event, 'duration-ms'));
      if (Number.isFinite(ms)) this.deliveryDuration.observe({ channel, outcome }, ms / 1000);
    }
    if (execute && bot) {
      const outcome = event.outcome === '0' ? 'success' : 'failure';
      this.botExecutions.inc({ bot, outcome });
      const ms = Number(detail(event, 'durationMs') ?? detail(event, 'duration-ms'));
      if (Number.isFinite(ms)) this.botDuration.observe({ bot, outcome }, ms / 1000);
    }
  }
}

function detail(event: AuditEvent, type: string): string | undefined {
  for (const e of event.entity ?? []) {
    for (const d of e.detail ?? []) if (d.type === type) return d.valueString;
  }
  return undefined;
}

interface QueueState {
  outbox: number;
  outboxAge: number;
  pending: number;
  pendingAge: number;
  dead: number;
}

async function readQueueState(pool: pg.Pool): Promise<QueueState> {
  const { rows } = await pool.query<QueueState>(
    `SELECT (SELECT count(*) FROM subscription_outbox)::int AS outbox,
       COALESCE((SELECT extract(epoch FROM clock_timestamp() - min(created_at)) FROM subscription_outbox), 0)::float8 AS "outboxAge",
       (SELECT count(*) FROM subscription_delivery WHERE status = 'pending')::int AS pending,
       COALESCE((SELECT extract(epoch FROM clock_timestamp() - min(created_at)) FROM subscription_delivery
         WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()), 0)::float8 AS "pendingAge",
       (SELECT count(*) FROM subscription_delivery WHERE status = 'dead')::int AS dead`,
  );
  return rows[0];
}

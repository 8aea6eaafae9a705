import { createHmac, randomUUID } from 'node:crypto';
import { normalizeErrorString } from '@medplum/core';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CreatedResource } from '../fhir/outbox-notify.ts';
import { PostgresRepository, type RepositoryContext } from '../fhir/repo.ts';
import { deliveryAuditEvent } from './audit.ts';
import type { BotExecutor } from './bot-executor.ts';
import { matchesFhirPath, matchesInMemory, matchFiltersBatch } from './matcher.ts';
import { RerunLoop } from './rerun-loop.ts';
import { backoffMs, type SubscriptionSettings } from './settings.ts';
import { type ActiveSubscription, type Interaction, isSuccess, parseSubscription } from './subscription.ts';

export const OUTBOX_CHANNEL = 'subscription_outbox';
export const DELIVERY_CHANNEL = 'subscription_delivery';

/** A committed write as the outbox records it. */
interface OutboxRow {
  seq: string;
  resource_type: string;
  id: string;
  version_id: string;
  previous_version_id: string | null;
  interaction: Interaction;
  generation: string;
}

/** A claimed outbox row with the contents of its version and of the previous one. */
interface ClaimedRow extends OutboxRow {
  content: string | null;
  previous_content: string | null;
  /** A later version of the resource waits behind this row (claimable once this one is gone). */
  has_next: boolean;
}

/** One delivery row to insert, as a json_to_recordset record. */
interface DeliveryValues {
  s: string;
  q: string;
  t: string;
  i: string;
  v: string;
  p: string | null;
  a: Interaction;
  m: number;
  /** Position in the batch: the first `room` may be leased to this instance. */
  n: number;
}

/**
 * The claim: the oldest outbox row of each resource (so the versions of one resource are dispatched
 * in order, even across instances), with contents, under a row lock others skip.
 */
function claimSql(limit: number): string {
  return `SELECT o.seq::text AS seq, o.resource_type, o.id, o.version_id::text AS version_id,
    o.previous_version_id::text AS previous_version_id, o.interaction,
    (SELECT generation FROM subscription_state)::text AS generation,
    (SELECT h.content FROM resource_history h WHERE h.version_id = o.version_id) AS content,
    (SELECT h.content FROM resource_history h WHERE h.version_id = o.previous_version_id) AS previous_content,
    EXISTS (SELECT 1 FROM subscription_outbox n WHERE n.resource_type = o.resource_type AND n.id = o.id AND n.seq > o.seq) AS has_next
  FROM subscription_outbox o
  WHERE NOT EXISTS (SELECT 1 FROM subscription_outbox p WHERE p.resource_type = o.resource_type AND p.id = o.id AND p.seq < o.seq)
  ORDER BY o.seq LIMIT ${Math.max(1, Math.floor(limit))} FOR UPDATE OF o SKIP LOCKED`;
}

/** One subscription's delivery of an outbox event. */
export interface DeliveryRow extends OutboxRow {
  delivery_id: string;
  subscription_id: string;
  attempts: number;
  max_attempts: number;
  content: string | null;
}

/** The outcome of one delivery attempt. */
export interface AttemptResult {
  ok: boolean;
  /** HTTP status (rest-hook) or the bot's status. */
  status?: number;
  error?: string;
  durationMs: number;
  /** A bot's captured console output. */
  log?: string;
}

interface Completion {
  id: string;
  status: 'delivered' | 'pending' | 'dead';
  lastStatus: number | null;
  lastError: string | null;
  delay: number;
  attempts: number;
}

/** A match for a `websocket` Subscription, published after its dispatch commits (or, for a create, at its commit: committed()). */
export interface WebSocketNotice {
  subscriptionId: string;
  /** The version shown to the client (for a delete: the removed version). */
  versionId: string;
  resource: Resource & { id: string };
  interaction: Interaction;
}

export type NotificationListener = (notices: WebSocketNotice[]) => void;
export type ChangeListener = (resourceType: string, id: string) => void;
/** Told whether any active Subscription is above routine priority, whenever that changes. */
export type UrgencyListener = (urgent: boolean) => void;

const noticeKey = (n: WebSocketNotice): string => `${n.subscriptionId}|${n.versionId}`;
/** Notices sent early whose dispatch is still to come, at most (see committed()). */
const SENT_EARLY_MAX = 10_000;

export interface EngineDeps {
  pool: pg.Pool;
  databaseUrl: string;
  repoContext: RepositoryContext;
  audit: AuditLog;
  logger: Logger;
  settings: SubscriptionSettings;
  botExecutor?: BotExecutor;
}

/**
 * The subscription workers of one server instance.
 *
 * dispatch: claims outbox rows (FOR UPDATE SKIP LOCKED, only the oldest row of each resource, so
 * the versions of one resource are dispatched in order even across instances), matches them
 * against the active Subscriptions and inserts one subscription_delivery row per match, deleting
 * the outbox rows in the same transaction.
 *
 * deliver: claims due deliveries under a lease (SKIP LOCKED; never one whose earlier event for
 * the same subscription and resource is still pending), POSTs the rest-hook or runs the bot,
 * records an AuditEvent per attempt, then marks the row delivered, schedules a retry with
 * exponential backoff, or dead-letters it after max-attempts.
 *
 * Instances wake each other with LISTEN/NOTIFY; a slow poll covers retries and lost notifications.
 */
export class SubscriptionEngine {
  readonly owner = `${process.pid}-${randomUUID()}`;
  private readonly deps: EngineDeps;
  private readonly repo: PostgresRepository;
  private botExecutor?: BotExecutor;
  private listener?: pg.Client;
  private poller?: NodeJS.Timeout;
  private pruner?: NodeJS.Timeout;
  private stopped = true;
  private readonly dispatchLoop = new RerunLoop(
    () => this.drainOutbox(),
    () => this.stopped,
    (err) => this.deps.logger.error({ err }, 'subscription dispatch failed'),
  );
  private readonly deliveryLoop = new RerunLoop(
    () => this.claimWhileRoom(),
    () => this.stopped,
    (err) => this.deps.logger.error({ err }, 'subscription delivery claim failed'),
  );
  private readonly inflight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private cache?: { generation: string; subs: Map<string, ActiveSubscription> };
  private byTypeOf?: { subs: Map<string, ActiveSubscription>; byType: Map<string, ActiveSubscription[]> };
  private readonly listeners = new Set<NotificationListener>();
  /** Notices sent at their commit (committed()), by noticeKey, until their dispatch comes. */
  private readonly sentEarly = new Map<string, true>();
  /** Websocket notices sent since start: at their write's commit (committed()) and at dispatch. */
  readonly noticesSent = { commit: 0, dispatch: 0 };
  /** Changes of the Subscriptions heard of (changed()), and how many of them the cache has seen. */
  private invalidations = 0;
  private checkedAt = -1;
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly urgencyListeners = new Set<UrgencyListener>();
  private urgent = false;
  private completions: (Completion & { resolve: () => void; reject: (err: unknown) => void })[] = [];
  private completing = false;

  constructor(deps: EngineDeps) {
    this.deps = deps;
    this.repo = new PostgresRepository(deps.repoContext);
    this.botExecutor = deps.botExecutor;
  }

  setBotExecutor(executor: BotExecutor | undefined): void {
    this.botExecutor = executor;
  }

  /**
   * Told of committed writes to Bots, Projects and ProjectMemberships on any instance (`'*'`: the
   * listener reconnected, anything may have changed), so caches can be dropped.
   */
  onResourceChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(resourceType: string, id: string): void {
    // A Subscription or binding changed (migration 0018), or the listener reconnected: the cache
    // is not used at a commit until a dispatch has checked it again.
    if (resourceType === 'Subscription' || resourceType === '*') this.invalidations++;
    for (const l of this.changeListeners) {
      try {
        l(resourceType, id);
      } catch (err) {
        this.deps.logger.warn({ err }, 'resource change listener failed');
      }
    }
  }

  /**
   * Whether urgent deliveries may come (an active Subscription above routine priority), told at once
   * and whenever the subscription cache changes it: the bot pool keeps its reserve ready only then.
   */
  onUrgencyChange(listener: UrgencyListener): () => void {
    this.urgencyListeners.add(listener);
    listener(this.urgent);
    return () => this.urgencyListeners.delete(listener);
  }

  private setUrgent(urgent: boolean): void {
    if (urgent === this.urgent) return;
    this.urgent = urgent;
    for (const l of this.urgencyListeners) {
      try {
        l(urgent);
      } catch (err) {
        this.deps.logger.warn({ err }, 'subscription urgency listener failed');
      }
    }
  }

  /** Channels other than rest-hook (websocket) receive their matches here. */
  onNotification(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether start() will listen for notifications (this instance runs subscription workers). */
  get willListen(): boolean {
    return this.deps.settings.enabled;
  }

  get running(): boolean {
    return !this.stopped;
  }

  async start(): Promise<void> {
    if (!this.stopped || !this.deps.settings.enabled) return;
    this.stopped = false;
    await this.connectListener();
    this.poller = setInterval(() => this.kick(), this.deps.settings.pollIntervalMs);
    this.poller.unref();
    this.pruner = setInterval(() => {
      this.prune().catch((err) => this.deps.logger.warn({ err }, 'pruning delivered subscription rows failed'));
    }, this.deps.settings.pruneIntervalMs);
    this.pruner.unref();
    this.kick();
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.deps.databaseUrl });
    client.on('error', (err) => {
      this.deps.logger.warn({ err: err.message }, 'subscription listener lost its connection');
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
      if (!this.stopped) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (!this.stopped && !this.listener) this.connectListener().catch(() => undefined);
        }, 1_000);
        this.timers.add(t);
      }
    });
    client.on('notification', (msg) => {
      if (msg.channel === OUTBOX_CHANNEL) {
        this.kickDispatch();
        const slash = msg.payload?.indexOf('/') ?? -1;
        if (slash > 0) this.changed((msg.payload as string).slice(0, slash), (msg.payload as string).slice(slash + 1));
      } else this.kickDeliveries();
    });
    await client.connect();
    await client.query(`LISTEN ${OUTBOX_CHANNEL}; LISTEN ${DELIVERY_CHANNEL}`);
    this.listener = client;
    // Changes missed while not listening: every cache built on notifications starts over.
    this.changed('*', '*');
    // Anything committed while we were not listening.
    this.kick();
  }

  /** Stops claiming work and waits for deliveries in flight (their leases expire otherwise). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    if (this.pruner) clearInterval(this.pruner);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await Promise.allSettled([this.dispatchLoop.running, this.deliveryLoop.running, ...this.inflight]);
  }

  /**
   * Deletes delivered rows older than the retention (dead letters stay until replayed), a bounded
   * batch at a time so no statement holds many locks; returns how many went.
   */
  async prune(now?: Date): Promise<number> {
    // Bindings of instances that died without unbinding (their heartbeat stopped).
    await this.deps.pool.query(
      `WITH gone AS (DELETE FROM subscription_ws_binding WHERE expires_at < clock_timestamp() RETURNING 1)
       UPDATE subscription_state SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM gone)`,
    );
    let total = 0;
    for (;;) {
      const { rowCount } = await this.deps.pool.query(
        `DELETE FROM subscription_delivery WHERE delivery_id IN (
           SELECT delivery_id FROM subscription_delivery
           WHERE status = 'delivered' AND delivered_at < coalesce($2::timestamptz, clock_timestamp()) - $1 * interval '1 millisecond'
           LIMIT 5000)`,
        [this.deps.settings.retainDeliveredMs, now?.toISOString() ?? null],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < 5000 || this.stopped) return total;
    }
  }

  kick(): void {
    this.kickDispatch();
    this.kickDeliveries();
  }

  /** Returns whether this instance's dispatcher will look at the outbox (false when stopped). */
  kickDispatch(): boolean {
    return this.dispatchLoop.kick();
  }

  kickDeliveries(): void {
    this.deliveryLoop.kick();
  }

  /**
   * Claims until the outbox holds nothing this pass has not seen. A pass that claimed less than a
   * full batch and no resource with a later version waiting stops there, without a claim that
   * would find nothing: rows committed meanwhile kicked the loop, which then runs once more. At a
   * steady 100 writes/s each wake-up claims one row, and the empty claim after it was a third of
   * the dispatcher's queries.
   */
  private async drainOutbox(): Promise<void> {
    while (!this.stopped) {
      const { handled, more } = await this.dispatchOnce();
      if (handled === 0 || !more) return;
    }
  }

  /** Slots for deliveries of any priority, and for urgent ones (which also have the reserve). */
  private room(): { any: number; urgent: number } {
    const { concurrency, urgentReserve } = this.deps.settings;
    return { any: concurrency - this.inflight.size, urgent: concurrency + urgentReserve - this.inflight.size };
  }

  private async claimWhileRoom(): Promise<void> {
    while (!this.stopped) {
      const room = this.room();
      // Every slot taken: only urgent deliveries, in the reserve.
      const urgentOnly = room.any <= 0;
      const limit = urgentOnly ? room.urgent : room.any;
      if (limit <= 0 || (urgentOnly && this.urgentSubscriptions().ids.length === 0)) break;
      const rows = await this.claimDeliveries(limit, urgentOnly);
      for (const row of rows) this.track(this.deliver(row));
      if (rows.length < limit) break;
    }
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => {
      this.inflight.delete(p);
      this.kickDeliveries();
    });
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  // --- cache --------------------------------------------------------------------------------

  private async subscriptions(conn: Pick<pg.PoolClient, 'query'>, generation: string): Promise<Map<string, ActiveSubscription>> {
    if (this.cache?.generation === generation) return this.cache.subs;
    const { rows } = await conn.query<{ content: string; generation: string; bound: boolean }>(
      `SELECT r.content, (SELECT generation FROM subscription_state)::text AS generation,
         EXISTS (SELECT 1 FROM subscription_ws_binding b WHERE b.subscription_id = r.id AND b.expires_at > clock_timestamp()) AS bound
       FROM resource r WHERE r.resource_type = 'Subscription' AND NOT r.deleted`,
    );
    const subs = new Map<string, ActiveSubscription>();
    for (const row of rows) {
      const sub = JSON.parse(row.content) as Subscription & { id: string };
      if (sub.status !== 'active') continue;
      // A websocket Subscription is matched only while a client is bound to it on some instance.
      if (sub.channel?.type === 'websocket' && !row.bound) continue;
      try {
        subs.set(sub.id, parseSubscription(sub));
      } catch (err) {
        this.deps.logger.warn({ subscription: sub.id, err: normalizeErrorString(err) }, 'ignoring invalid subscription');
      }
    }
    // The generation read with the rows (a write between the two reads just causes another reload).
    this.cache = { generation: rows[0]?.generation ?? generation, subs };
    if (rows.length === 0) this.cache.generation = generation;
    this.setUrgent([...subs.values()].some((sub) => sub.priority > 0));
    return subs;
  }

  // --- dispatch -----------------------------------------------------------------------------

  /**
   * One dispatch transaction in two round trips.
   * 1. `BEGIN; SELECT ... FOR UPDATE SKIP LOCKED`: the oldest outbox row of each resource, with the
   *    version's content (and the previous one's) and the Subscription generation;
   * 2. criteria are matched (in memory for token criteria, else one SQL query per type), then
   *    `DELETE outbox + INSERT deliveries; COMMIT`, leasing to this instance the deliveries it has
   *    room for, which it starts right after the commit.
   * Both messages use the simple query protocol (several statements, no bind parameters), so the
   * values of the second one are sent as one JSON literal.
   * Returns how many outbox rows it handled, and whether more may be claimable now.
   */
  async dispatchOnce(): Promise<{ handled: number; more: boolean }> {
    const client = await this.deps.pool.connect();
    let ok = false;
    // The claim reads the generation after every change heard of so far was committed.
    const heard = this.invalidations;
    try {
      const claimed = (await client.query(`BEGIN; ${claimSql(this.deps.settings.batchSize)}`)) as unknown as pg.QueryResult[];
      const rows = claimed[1].rows as ClaimedRow[];
      if (rows.length === 0) {
        await client.query('COMMIT');
        ok = true;
        return { handled: 0, more: false };
      }
      const subs = await this.subscriptions(client, rows[0].generation);
      this.checkedAt = heard;
      const notices: WebSocketNotice[] = [];
      const { deliveries, contents, urgent } = await this.match(client, rows, subs, notices);
      const seqs = `'{${rows.map((r) => r.seq).join(',')}}'::bigint[]`;
      let leased: DeliveryRow[] = [];
      if (deliveries.length > 0) {
        // Deliveries this instance has room for are leased to it right here and sent right after
        // the commit (no claim round trip); the rest wait for any instance's claim.
        // Urgent deliveries come first in the batch and may also use the reserve.
        const slots = this.room();
        const room = Math.max(0, slots.any, Math.min(urgent, slots.urgent));
        const results = (await client.query(
          `WITH del AS (DELETE FROM subscription_outbox WHERE seq = ANY(${seqs}))
           INSERT INTO subscription_delivery (subscription_id, seq, resource_type, id, version_id, previous_version_id, interaction,
             max_attempts, attempts, lease_owner, lease_until)
           SELECT u.s, u.q, u.t, u.i, u.v, u.p, u.a, u.m,
             CASE WHEN u.lease THEN 1 ELSE 0 END,
             CASE WHEN u.lease THEN ${client.escapeLiteral(this.owner)} END,
             CASE WHEN u.lease THEN clock_timestamp() + ${Math.round(this.deps.settings.leaseMs)} * interval '1 millisecond' END
           FROM (SELECT x.*, x.n <= ${room} AND NOT EXISTS (SELECT 1 FROM subscription_delivery e WHERE e.status = 'pending'
                   AND e.subscription_id = x.s AND e.resource_type = x.t AND e.id = x.i) AS lease
                 FROM json_to_recordset(${client.escapeLiteral(JSON.stringify(deliveries))}::json)
                   AS x(s text, q bigint, t text, i text, v uuid, p uuid, a text, m int, n int)) u
           RETURNING delivery_id::text, subscription_id, seq::text, resource_type, id, version_id, previous_version_id, interaction,
             attempts, max_attempts, lease_owner,
             CASE WHEN lease_owner IS NULL THEN pg_notify('${DELIVERY_CHANNEL}', '') END AS woke;
           COMMIT`,
        )) as unknown as pg.QueryResult[];
        const inserted = results[0].rows as (Omit<DeliveryRow, 'content' | 'generation'> & { lease_owner: string | null })[];
        const generation = this.cache?.generation ?? rows[0].generation;
        leased = inserted
          .filter((r) => r.lease_owner === this.owner)
          .map(({ lease_owner: _owner, ...r }) => ({
            ...r,
            content: contents.get(r.interaction === 'delete' ? (r.previous_version_id as string) : r.version_id) ?? null,
            generation,
          }));
      } else {
        await client.query(`DELETE FROM subscription_outbox WHERE seq = ANY(${seqs}); COMMIT`);
      }
      ok = true;
      for (const row of leased) this.track(this.deliver(row));
      // Those sent at their commit already (committed()) are not sent twice.
      const late = notices.filter((n) => !this.sentEarly.delete(noticeKey(n)));
      this.noticesSent.dispatch += late.length;
      this.emit(late);
      return { handled: rows.length, more: rows.length >= this.deps.settings.batchSize || rows.some((r) => r.has_next) };
    } finally {
      if (!ok) await client.query('ROLLBACK').catch(() => undefined);
      client.release(!ok);
    }
  }

  /**
   * A commit on this instance created these resources: they are matched against the websocket
   * Subscriptions whose criteria need no database and notified now, instead of after the
   * outbox row's dispatch (its claim, its match and its commit: a few milliseconds at 100 writes/s,
   * longer behind a busy dispatch). Only creates: an update's notice sent now could overtake its
   * resource's earlier version still waiting for the dispatch, and clients (the board) apply what
   * they are sent. The dispatch still matches every row, so a notice is never lost to a crash after
   * the commit, and leaves out the notices sent here (sentEarly). The cached Subscriptions are used only while no
   * change of them was heard since a dispatch last checked the cache's generation (migration 0018
   * notifies every change); meanwhile, and for criteria with FHIRPath (which may compare the
   * previous version), the dispatch matches alone. Another instance's dispatch (its fallback poll)
   * may still send a notice a second time: websocket notices are at least once.
   */
  committed(created: readonly CreatedResource[]): void {
    const subs = this.cache?.subs;
    // Without the listener, a change of the Subscriptions would go unheard.
    if (!subs || !this.listener || this.checkedAt !== this.invalidations || this.listeners.size === 0 || created.length === 0) return;
    const byType = this.byType(subs);
    const notices: WebSocketNotice[] = [];
    for (const resource of created) {
      const candidates = byType.get(resource.resourceType);
      const versionId = resource.meta?.versionId;
      if (!candidates || !versionId) continue;
      const tokenRows = new Map();
      for (const sub of candidates) {
        if (sub.channelType !== 'websocket' || sub.fhirPath || (sub.filters.length > 0 && !sub.memory)) continue;
        if (sub.interactions && !sub.interactions.has('create')) continue;
        if (sub.memory && !matchesInMemory(sub.memory, resource, tokenRows)) continue;
        notices.push({ subscriptionId: sub.id, versionId, resource, interaction: 'create' });
      }
    }
    if (notices.length === 0) return;
    this.noticesSent.commit += notices.length;
    for (const n of notices) this.sentEarly.set(noticeKey(n), true);
    // Bounded: a notice whose dispatch never comes (its Subscription ended meanwhile) is forgotten
    // after SENT_EARLY_MAX others; at worst its dispatch then sends it a second time.
    for (const key of this.sentEarly.keys()) {
      if (this.sentEarly.size <= SENT_EARLY_MAX) break;
      this.sentEarly.delete(key);
    }
    this.emit(notices);
  }

  private emit(notices: WebSocketNotice[]): void {
    if (notices.length === 0) return;
    for (const l of this.listeners) {
      try {
        l(notices);
      } catch (err) {
        this.deps.logger.warn({ err }, 'subscription notification listener failed');
      }
    }
  }

  private async match(
    client: pg.PoolClient,
    rows: ClaimedRow[],
    subs: Map<string, ActiveSubscription>,
    notices: WebSocketNotice[],
  ): Promise<{ deliveries: DeliveryValues[]; contents: Map<string, string>; urgent: number }> {
    const byType = this.byType(subs);
    const work = rows
      .map((row) => ({
        row,
        candidates: (byType.get(row.resource_type) ?? []).filter((s) => !s.interactions || s.interactions.has(row.interaction)),
      }))
      .filter((w) => w.candidates.length > 0);
    const raw = new Map<string, string>();
    const out: DeliveryValues[] = [];
    const ranks: number[] = [];
    if (work.length === 0) return { deliveries: out, contents: raw, urgent: 0 };
    const parsed = new Map<string, Resource & { id: string }>();
    const parse = (versionId: string | null, content: string | null) => {
      if (!versionId || !content) return undefined;
      let r = parsed.get(versionId);
      if (!r) {
        r = JSON.parse(content) as Resource & { id: string };
        parsed.set(versionId, r);
        raw.set(versionId, content);
      }
      return r;
    };
    // Subjects: a delete is matched (and delivered) as the resource it removed, like Medplum.
    const subjects = work.map(({ row }) =>
      row.interaction === 'delete' ? parse(row.previous_version_id, row.previous_content) : parse(row.version_id, row.content),
    );
    // Criteria that are not plain token tests: one SQL query per resource type for the whole batch.
    const sqlMatches = new Map<number, Map<string, boolean>>();
    for (const [type, typeSubs] of byType) {
      const sqlSubs = typeSubs.filter((s) => s.filters.length > 0 && !s.memory);
      if (sqlSubs.length === 0) continue;
      const idx = work
        .map((w, k) => ({ w, k }))
        .filter(({ w, k }) => w.row.resource_type === type && subjects[k] && w.candidates.some((c) => sqlSubs.includes(c)));
      if (idx.length === 0) continue;
      let m: boolean[][];
      try {
        m = await matchFiltersBatch(
          this.repo,
          client,
          this.deps.pool,
          sqlSubs,
          idx.map(({ k }) => subjects[k] as Resource & { id: string }),
          this.deps.logger,
        );
      } catch (err) {
        this.deps.logger.error({ err, resourceType: type }, 'subscription criteria evaluation failed');
        throw err;
      }
      idx.forEach(({ k }, j) => {
        sqlMatches.set(k, new Map(sqlSubs.map((s, i) => [s.id, m[j][i] === true])));
      });
    }
    for (let k = 0; k < work.length; k++) {
      const { row, candidates } = work[k];
      const subject = subjects[k];
      if (!subject) continue;
      const previous = parse(row.previous_version_id, row.previous_content);
      const tokenRows = new Map();
      for (const sub of candidates) {
        const matched =
          sub.filters.length === 0 ||
          (sub.memory ? matchesInMemory(sub.memory, subject, tokenRows) : sqlMatches.get(k)?.get(sub.id) === true);
        if (!matched) continue;
        if (sub.fhirPath) {
          try {
            if (!matchesFhirPath(sub.fhirPathAtom ?? sub.fhirPath, subject, row.interaction === 'delete' ? undefined : previous)) continue;
          } catch (err) {
            this.deps.logger.warn({ subscription: sub.id, err: normalizeErrorString(err) }, 'FHIRPath criteria failed');
            continue;
          }
        }
        if (sub.channelType === 'websocket') {
          notices.push({
            subscriptionId: sub.id,
            versionId: (row.interaction === 'delete' ? row.previous_version_id : row.version_id) as string,
            resource: subject,
            interaction: row.interaction,
          });
          continue;
        }
        if (sub.channelType !== 'rest-hook') continue;
        out.push({
          s: sub.id,
          q: row.seq,
          t: row.resource_type,
          i: row.id,
          v: row.version_id,
          p: row.previous_version_id,
          a: row.interaction,
          m: sub.maxAttempts,
          n: 0,
        });
        ranks.push(sub.priority);
      }
    }
    // Higher priorities first (stable, so outbox order otherwise): they are the ones leased to this
    // instance when it has room for only some (see dispatchOnce).
    const order = out.map((_, i) => i).sort((a, b) => ranks[b] - ranks[a] || a - b);
    const deliveries = order.map((i, k) => ({ ...out[i], n: k + 1 }));
    return { deliveries, contents: raw, urgent: ranks.filter((r) => r > 0).length };
  }

  /** Active subscriptions by resource type, computed once per cache generation. */
  private byType(subs: Map<string, ActiveSubscription>): Map<string, ActiveSubscription[]> {
    if (this.byTypeOf?.subs === subs) return this.byTypeOf.byType;
    const byType = new Map<string, ActiveSubscription[]>();
    for (const s of subs.values()) {
      const list = byType.get(s.resourceType) ?? [];
      list.push(s);
      byType.set(s.resourceType, list);
    }
    this.byTypeOf = { subs, byType };
    return byType;
  }

  // --- delivery -----------------------------------------------------------------------------

  /**
   * Subscriptions of a priority above routine, by rank, from the cache (none before it first
   * loads: the order is a preference, a stale one only delays an urgent delivery as before).
   */
  private urgentSubscriptions(): { ids: string[]; ranks: number[] } {
    const ids: string[] = [];
    const ranks: number[] = [];
    for (const sub of this.cache?.subs.values() ?? []) {
      if (sub.priority > 0) {
        ids.push(sub.id);
        ranks.push(sub.priority);
      }
    }
    return { ids, ranks };
  }

  /** Claims due deliveries, urgent first; with `urgentOnly`, only those of urgent subscriptions. */
  private async claimDeliveries(limit: number, urgentOnly = false): Promise<DeliveryRow[]> {
    const urgent = this.urgentSubscriptions();
    // With urgent subscriptions, their due deliveries are claimed first: behind a backlog of routine
    // ones an alarm's delivery would otherwise wait its turn in the table too.
    const order = urgent.ids.length
      ? `coalesce((SELECT u.r FROM unnest($4::text[], $5::int[]) AS u(s, r) WHERE u.s = d.subscription_id), 0) DESC, d.next_attempt_at, d.seq`
      : 'd.next_attempt_at, d.seq';
    const { rows } = await this.deps.pool.query<DeliveryRow>(
      `WITH c AS (
         SELECT d.delivery_id FROM subscription_delivery d
         WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp()
           AND (d.lease_until IS NULL OR d.lease_until < clock_timestamp())${urgentOnly && urgent.ids.length ? ' AND d.subscription_id = ANY($4::text[])' : ''}
           AND NOT EXISTS (SELECT 1 FROM subscription_delivery e WHERE e.status = 'pending' AND e.subscription_id = d.subscription_id
             AND e.resource_type = d.resource_type AND e.id = d.id AND e.seq < d.seq)
         ORDER BY ${order} LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE subscription_delivery d SET attempts = d.attempts + 1, lease_owner = $2,
         lease_until = clock_timestamp() + $3 * interval '1 millisecond', updated_at = clock_timestamp()
       FROM c WHERE d.delivery_id = c.delivery_id
       RETURNING d.delivery_id::text, d.subscription_id, d.seq::text, d.resource_type, d.id, d.version_id, d.previous_version_id,
         d.interaction, d.attempts, d.max_attempts,
         (SELECT h.content FROM resource_history h WHERE h.version_id =
           CASE WHEN d.interaction = 'delete' THEN d.previous_version_id ELSE d.version_id END) AS content,
         (SELECT generation FROM subscription_state)::text AS generation`,
      urgent.ids.length
        ? [limit, this.owner, this.deps.settings.leaseMs, urgent.ids, urgent.ranks]
        : [limit, this.owner, this.deps.settings.leaseMs],
    );
    return rows;
  }

  private async deliver(row: DeliveryRow): Promise<void> {
    const startedAt = new Date();
    let sub: ActiveSubscription | undefined;
    let result: AttemptResult;
    try {
      sub = (await this.subscriptions(this.deps.pool, row.generation)).get(row.subscription_id);
      if (!sub) {
        result = { ok: false, error: `Subscription/${row.subscription_id} is no longer active`, durationMs: 0 };
      } else if (!row.content) {
        result = { ok: false, error: `${row.resource_type}/${row.id}/_history/${row.version_id} has no content`, durationMs: 0 };
      } else {
        result = await this.attempt(sub, row, row.content);
      }
    } catch (err) {
      result = { ok: false, error: normalizeErrorString(err), durationMs: Date.now() - startedAt.getTime() };
    }
    const final = result.ok || row.attempts >= row.max_attempts || !sub;
    const status = result.ok ? 'delivered' : final ? 'dead' : 'pending';
    const delay = final ? 0 : backoffMs(this.deps.settings, row.attempts);
    const audit = this.deps.audit
      .record(deliveryAuditEvent({ row, sub, result, startedAt, finalStatus: status }))
      .catch((err) => this.deps.logger.error({ err }, 'subscription audit failed'));
    try {
      await this.complete({
        id: row.delivery_id,
        status,
        lastStatus: result.status ?? null,
        lastError: result.error ?? null,
        delay,
        attempts: row.attempts,
      });
    } catch (err) {
      // The lease expires and another attempt follows: at-least-once.
      this.deps.logger.error({ err, delivery: row.delivery_id }, 'could not record subscription delivery');
    }
    await audit;
    if (status === 'pending') this.later(delay + 5, () => this.kickDeliveries());
    if (!result.ok) {
      this.deps.logger.warn(
        {
          subscription: row.subscription_id,
          resource: `${row.resource_type}/${row.id}`,
          attempt: row.attempts,
          status,
          error: result.error,
        },
        'subscription delivery failed',
      );
    }
  }

  /**
   * Records the outcome of attempts. Outcomes that finish while a write is in flight are written
   * together by the next statement (group commit), so throughput does not pay one round trip each.
   * Only the lease holder of that very attempt may record it.
   */
  private complete(c: Completion): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.completions.push({ ...c, resolve, reject });
      if (!this.completing) void this.flushCompletions();
    });
  }

  private async flushCompletions(): Promise<void> {
    this.completing = true;
    try {
      while (this.completions.length > 0) {
        const batch = this.completions.splice(0, 500);
        try {
          await this.deps.pool.query(
            `UPDATE subscription_delivery d SET status = u.status, last_status = u.ls, last_error = u.le, lease_until = NULL,
               next_attempt_at = clock_timestamp() + u.delay * interval '1 millisecond', updated_at = clock_timestamp(),
               delivered_at = CASE WHEN u.status = 'delivered' THEN clock_timestamp() ELSE d.delivered_at END
             FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::int[], $6::int[]) AS u(id, status, ls, le, delay, attempts)
             WHERE d.delivery_id = u.id AND d.lease_owner = $7 AND d.attempts = u.attempts`,
            [
              batch.map((c) => c.id),
              batch.map((c) => c.status),
              batch.map((c) => c.lastStatus),
              batch.map((c) => c.lastError),
              batch.map((c) => c.delay),
              batch.map((c) => c.attempts),
              this.owner,
            ],
          );
          for (const c of batch) c.resolve();
        } catch (err) {
          for (const c of batch) c.reject(err);
        }
      }
    } finally {
      this.completing = false;
    }
  }

  /** One attempt: a rest-hook POST, or a bot run for `Bot/{id}` endpoints. */
  async attempt(
    sub: ActiveSubscription,
    row: Pick<DeliveryRow, 'interaction' | 'resource_type' | 'id' | 'version_id'>,
    body: string,
  ): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
    const endpoint = sub.endpoint ?? '';
    const botMatch = /^Bot\/([A-Za-z0-9\-.]{1,64})$/.exec(endpoint);
    if (botMatch) {
      if (!this.botExecutor) return { ok: false, error: 'The bot runtime is not available', durationMs: elapsed() };
      const res = await this.botExecutor.execute({
        botId: botMatch[1],
        input: JSON.parse(body),
        contentType: 'application/fhir+json',
        headers: { 'X-Medplum-Subscription': sub.id, 'X-Medplum-Interaction': row.interaction },
        traceId: randomUUID(),
        requester: { reference: `Subscription/${sub.id}` },
        // The delivery's AuditEvent is the execution's too (one AuditEvent per attempt).
        audit: false,
        priority: sub.priority,
      });
      return {
        ok: res.ok,
        status: res.status,
        error: res.ok ? undefined : (res.error ?? `Bot failed with status ${res.status}`),
        durationMs: elapsed(),
        log: res.log,
      };
    }
    let url: URL;
    try {
      url = new URL(endpoint);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
    } catch (err) {
      return { ok: false, error: `Invalid endpoint "${endpoint}": ${normalizeErrorString(err)}`, durationMs: elapsed() };
    }
    const headers: Record<string, string> = {
      ...sub.headers,
      'Content-Type': 'application/fhir+json',
      'X-Medplum-Subscription': sub.id,
      'X-Medplum-Interaction': row.interaction,
    };
    if (row.interaction === 'delete') headers['X-Medplum-Deleted-Resource'] = `${row.resource_type}/${row.id}`;
    if (sub.secret) headers['X-Signature'] = createHmac('sha256', sub.secret).update(body).digest('hex');
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.deps.settings.deliveryTimeoutMs),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      const ok = isSuccess(sub, res.status);
      return { ok, status: res.status, error: ok ? undefined : `HTTP ${res.status}`, durationMs: elapsed() };
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      return { ok: false, error: `POST ${url.origin} failed: ${normalizeErrorString(cause ?? err)}`, durationMs: elapsed() };
    }
  }
}

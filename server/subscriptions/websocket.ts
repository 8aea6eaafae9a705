import { randomUUID } from 'node:crypto';
import fastifyWebsocket, { type WebSocket } from '@fastify/websocket';
import { badRequest, createReference, normalizeErrorString } from '@medplum/core';
import type { Bundle, Parameters, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AuthContext } from '../auth/context.ts';
import type { KeyStore } from '../auth/keys.ts';
import { createPool } from '../db/pool.ts';
import type { PostgresRepository, RepositoryOptions } from '../fhir/repo.ts';
import { FHIR_JSON } from '../http/outcomes.ts';
import type { SubscriptionEngine, WebSocketNotice } from './engine.ts';

/** Path of the websocket endpoint (Medplum's; MedplumClient's SubscriptionManager connects here). */
export const WS_PATH = '/ws/subscriptions-r4';
/** Audience of binding tokens: they bind a socket to one Subscription and are no API bearer tokens. */
const WS_AUDIENCE = 'urn:emergisphere:ws-subscription-binding';
const TOKEN_SECONDS = 3600;
const REDIS_CHANNEL = 'emergisphere:subscriptions:r4:websockets';
const PG_CHANNEL = 'subscription_ws';
const HEARTBEAT_MS = 10_000;
/** A binding row outlives a few missed heartbeats, then any instance removes it. */
const BINDING_TTL_SECONDS = 35;

export interface WebSocketChannelDeps {
  keys: KeyStore;
  repo(options?: RepositoryOptions): PostgresRepository;
  baseUrl: string;
  engine: SubscriptionEngine;
  pool: pg.Pool;
  databaseUrl: string;
  redisUrl?: string;
  logger: Logger;
  /**
   * The subscriber's current access (their login's context). A notification is pushed only when the
   * subscriber may read the resource, as they would see it in a read; without this, unchecked.
   */
  contextForLogin?: (loginId: string) => Promise<AuthContext | undefined>;
}

function statusBundle(
  subscriptionId: string,
  type: 'handshake' | 'heartbeat' | 'event-notification',
  resource?: Resource & { id: string },
): Bundle {
  const timestamp = new Date().toISOString();
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'history',
    timestamp,
    entry: [
      {
        resource: {
          resourceType: 'SubscriptionStatus',
          id: randomUUID(),
          status: 'active',
          type,
          subscription: { reference: `Subscription/${subscriptionId}` },
          ...(resource ? { notificationEvent: [{ eventNumber: '0', timestamp, focus: createReference(resource) }] } : {}),
        },
      },
      ...(resource ? [{ resource, fullUrl: `${resource.resourceType}/${resource.id}` }] : []),
    ],
  };
}

/**
 * The `websocket` channel, Medplum's binding-token flow:
 * `GET /fhir/R4/Subscription/{id}/$get-ws-binding-token` → Parameters(token, expiration,
 * websocket-url); the client sends `{type:'bind-with-token', payload:{token}}` on WS_PATH and gets a
 * handshake, then a subscription-notification Bundle per matching event (best effort: no retries,
 * like Medplum). The instance that matched an event fans it out to every instance: through Redis
 * pub/sub when REDIS_URL is set, else through PostgreSQL NOTIFY (payload: ids; content read back).
 */
export class WebSocketChannel {
  private readonly deps: WebSocketChannelDeps;
  private readonly sockets = new Map<string, Set<WebSocket>>();
  /** The login each socket bound with: what it may see is checked per notification. */
  private readonly subscriberOf = new WeakMap<WebSocket, string>();
  private publisher?: Redis;
  private subscriber?: Redis;
  private listener?: pg.Client;
  /**
   * Sends the fan-out NOTIFYs (PostgreSQL mode): asynchronous commit, since a NOTIFY carries no
   * data to make durable, and a transaction that NOTIFYs holds PostgreSQL's notify lock until its
   * commit is flushed (every writer's commit would wait for it).
   */
  private notifyPool?: pg.Pool;
  private heartbeat?: NodeJS.Timeout;
  private unsubscribe?: () => void;

  constructor(deps: WebSocketChannelDeps) {
    this.deps = deps;
  }

  async register(fastify: FastifyInstance): Promise<void> {
    await fastify.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
    fastify.get(`/fhir/R4/Subscription/:id/$get-ws-binding-token`, async (request, reply) => {
      const auth = request.auth;
      if (!auth) throw new Error('binding token requested without authentication');
      const { id } = request.params as { id: string };
      // The caller must be able to read the Subscription it binds to.
      await this.deps.repo({ policy: auth.policy }).readResource('Subscription', id);
      const token = await this.deps.keys.sign(
        { login_id: auth.loginId, subscription_id: id, profile: auth.profile.reference },
        TOKEN_SECONDS,
        WS_AUDIENCE,
      );
      const params: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'token', valueString: token },
          { name: 'expiration', valueDateTime: new Date(Date.now() + TOKEN_SECONDS * 1000).toISOString() },
          { name: 'websocket-url', valueUrl: `${this.deps.baseUrl.replace(/^http/, 'ws')}${WS_PATH.slice(1)}` },
        ],
      };
      return reply.type(FHIR_JSON).send(JSON.stringify(params));
    });
    fastify.get(WS_PATH, { websocket: true }, (socket) => this.onConnection(socket));
    await this.startFanOut();
    this.unsubscribe = this.deps.engine.onNotification((notices) => void this.publish(notices));
    this.heartbeat = setInterval(() => this.sendHeartbeats(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private onConnection(socket: WebSocket): void {
    const bound = new Set<string>();
    socket.on('message', (data: Buffer | string) => {
      void (async () => {
        let msg: { type?: string; payload?: { token?: string } };
        try {
          msg = JSON.parse(String(data));
        } catch {
          socket.send(JSON.stringify(badRequest('Invalid JSON message')));
          return;
        }
        if (msg.type === 'ping') {
          socket.send(JSON.stringify({ type: 'pong' }));
          return;
        }
        if (msg.type !== 'bind-with-token' && msg.type !== 'unbind-from-token') {
          socket.send(JSON.stringify(badRequest(`Unknown message type ${msg.type}`)));
          return;
        }
        const verified = await this.verify(msg.payload?.token);
        if (!verified) {
          socket.send(JSON.stringify(badRequest('Token failed to validate. Check token expiry.')));
          return;
        }
        const { subscriptionId } = verified;
        if (verified.loginId) this.subscriberOf.set(socket, verified.loginId);
        if (msg.type === 'bind-with-token') {
          bound.add(subscriptionId);
          let set = this.sockets.get(subscriptionId);
          if (!set) {
            set = new Set();
            this.sockets.set(subscriptionId, set);
          }
          set.add(socket);
          // Committed before the handshake: events written after it are matched.
          await this.bindRow(subscriptionId);
          socket.send(JSON.stringify(statusBundle(subscriptionId, 'handshake')));
        } else {
          bound.delete(subscriptionId);
          this.detach(subscriptionId, socket);
        }
      })().catch((err) => this.deps.logger.warn({ err: normalizeErrorString(err) }, 'websocket message failed'));
    });
    socket.on('close', () => {
      for (const id of bound) this.detach(id, socket);
    });
  }

  private detach(subscriptionId: string, socket: WebSocket): void {
    const set = this.sockets.get(subscriptionId);
    set?.delete(socket);
    if (set?.size === 0) {
      this.sockets.delete(subscriptionId);
      void this.unbindRow(subscriptionId).catch((err) =>
        this.deps.logger.warn({ err: normalizeErrorString(err) }, 'could not remove a websocket binding'),
      );
    }
  }

  /** Records that this instance has a client for the Subscription (new rows bump the generation). */
  private async bindRow(subscriptionId: string): Promise<void> {
    await this.deps.pool.query(
      `WITH b AS (INSERT INTO subscription_ws_binding (subscription_id, owner, expires_at)
         VALUES ($1, $2, clock_timestamp() + $3 * interval '1 second')
         ON CONFLICT (subscription_id, owner) DO UPDATE SET expires_at = EXCLUDED.expires_at
         RETURNING (xmax = 0) AS inserted)
       UPDATE subscription_state SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM b WHERE inserted)`,
      [subscriptionId, this.deps.engine.owner, BINDING_TTL_SECONDS],
    );
  }

  private async unbindRow(subscriptionId: string): Promise<void> {
    if (this.sockets.has(subscriptionId)) return;
    await this.deps.pool.query(
      `WITH gone AS (DELETE FROM subscription_ws_binding WHERE subscription_id = $1 AND owner = $2 RETURNING 1)
       UPDATE subscription_state SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM gone)`,
      [subscriptionId, this.deps.engine.owner],
    );
  }

  private async verify(token: string | undefined): Promise<{ subscriptionId: string; loginId?: string } | undefined> {
    if (!token) return undefined;
    try {
      const claims = await this.deps.keys.verify(token);
      const aud = ([] as unknown[]).concat(claims.aud ?? []);
      if (!aud.includes(WS_AUDIENCE) || typeof claims.subscription_id !== 'string') return undefined;
      return { subscriptionId: claims.subscription_id, loginId: typeof claims.login_id === 'string' ? claims.login_id : undefined };
    } catch {
      return undefined;
    }
  }

  private sendHeartbeats(): void {
    if (this.sockets.size > 0) {
      this.deps.pool
        .query(
          `UPDATE subscription_ws_binding SET expires_at = clock_timestamp() + $3 * interval '1 second'
           WHERE owner = $1 AND subscription_id = ANY($2::text[])`,
          [this.deps.engine.owner, [...this.sockets.keys()], BINDING_TTL_SECONDS],
        )
        .catch((err) => this.deps.logger.warn({ err: normalizeErrorString(err) }, 'could not refresh websocket bindings'));
    }
    for (const [id, set] of this.sockets) {
      const msg = JSON.stringify(statusBundle(id, 'heartbeat'));
      for (const s of set) s.send(msg);
    }
  }

  /** Pushes to this instance's sockets, each subscriber getting only what their access lets them read. */
  private deliverLocal(subscriptionId: string, resource: Resource & { id: string }): void {
    const set = this.sockets.get(subscriptionId);
    if (!set?.size) return;
    const msg = JSON.stringify(statusBundle(subscriptionId, 'event-notification', resource));
    for (const s of set) {
      void this.visibleTo(s, resource)
        .then((visible) => {
          if (visible === resource) s.send(msg);
          else if (visible) s.send(JSON.stringify(statusBundle(subscriptionId, 'event-notification', visible)));
        })
        .catch((err) => this.deps.logger.warn({ err: normalizeErrorString(err) }, 'websocket access check failed'));
    }
  }

  /**
   * The resource as the socket's subscriber may see it: unchanged for unrestricted access, read
   * through their AccessPolicy (criteria, hidden fields) otherwise, undefined when they may not read it.
   */
  private async visibleTo(socket: WebSocket, resource: Resource & { id: string }): Promise<(Resource & { id: string }) | undefined> {
    const loginId = this.subscriberOf.get(socket);
    if (!this.deps.contextForLogin || !loginId) return resource;
    const ctx = await this.deps.contextForLogin(loginId);
    if (!ctx) return undefined;
    if (!ctx.policy.rules) return resource;
    try {
      return (await this.deps.repo({ policy: ctx.policy }).readResource(resource.resourceType, resource.id)) as Resource & { id: string };
    } catch {
      return undefined;
    }
  }

  private async startFanOut(): Promise<void> {
    if (this.deps.redisUrl) {
      this.publisher = new Redis(this.deps.redisUrl, { maxRetriesPerRequest: 2 });
      this.subscriber = new Redis(this.deps.redisUrl, { maxRetriesPerRequest: null });
      for (const r of [this.publisher, this.subscriber])
        r.on('error', (err) => this.deps.logger.warn({ err: err.message }, 'redis error (websocket channel)'));
      this.subscriber.on('message', (_channel, message) => {
        try {
          for (const n of JSON.parse(message) as { s: string; r: Resource & { id: string } }[]) this.deliverLocal(n.s, n.r);
        } catch (err) {
          this.deps.logger.warn({ err: normalizeErrorString(err) }, 'bad websocket fan-out message');
        }
      });
      await this.subscriber.subscribe(REDIS_CHANNEL);
      return;
    }
    const client = new pg.Client({ connectionString: this.deps.databaseUrl });
    client.on('error', (err) => this.deps.logger.warn({ err: err.message }, 'websocket listener lost its connection'));
    client.on('notification', (msg) => {
      void (async () => {
        const n = JSON.parse(msg.payload ?? '{}') as { s: string; v: string; o?: string };
        // This instance delivered its own notices when it published them.
        if (n.o === this.deps.engine.owner || !this.sockets.has(n.s)) return;
        const { rows } = await this.deps.pool.query<{ content: string | null }>(
          'SELECT content FROM resource_history WHERE version_id = $1',
          [n.v],
        );
        if (rows[0]?.content) this.deliverLocal(n.s, JSON.parse(rows[0].content));
      })().catch((err) => this.deps.logger.warn({ err: normalizeErrorString(err) }, 'websocket fan-out failed'));
    });
    await client.connect();
    await client.query(`LISTEN ${PG_CHANNEL}`);
    this.listener = client;
    this.notifyPool = createPool(this.deps.databaseUrl, 1, { asyncCommit: true });
  }

  private async publish(notices: WebSocketNotice[]): Promise<void> {
    try {
      if (this.publisher) {
        await this.publisher.publish(REDIS_CHANNEL, JSON.stringify(notices.map((n) => ({ s: n.subscriptionId, r: n.resource }))));
        return;
      }
      // Sockets on this instance get theirs now, without a round trip through the database.
      for (const n of notices) {
        if (this.sockets.has(n.subscriptionId)) this.deliverLocal(n.subscriptionId, n.resource);
      }
      const owner = this.deps.engine.owner;
      const payloads = notices.map((n) => JSON.stringify({ s: n.subscriptionId, v: n.versionId, o: owner }));
      await (this.notifyPool ?? this.deps.pool).query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [PG_CHANNEL, payloads]);
    } catch (err) {
      this.deps.logger.warn({ err: normalizeErrorString(err) }, 'websocket notification fan-out failed');
    }
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    const ids = [...this.sockets.keys()];
    const open = [...this.sockets.values()].flatMap((set) => [...set]);
    this.sockets.clear();
    await this.deps.pool
      .query(
        `WITH gone AS (DELETE FROM subscription_ws_binding WHERE owner = $1 AND subscription_id = ANY($2::text[]) RETURNING 1)
         UPDATE subscription_state SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM gone)`,
        [this.deps.engine.owner, ids],
      )
      .catch(() => undefined);
    for (const s of open) s.terminate();
    this.publisher?.disconnect();
    this.subscriber?.disconnect();
    await this.listener?.end().catch(() => undefined);
    await this.notifyPool?.end().catch(() => undefined);
  }
}

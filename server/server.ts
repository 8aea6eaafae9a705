import { mkdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { type App, createApp } from './app.ts';
import { type AuditLog, createAuditPool } from './audit/audit-log.ts';
import { AuditJournal } from './audit/journal.ts';
import { databaseHomeId, journalDir } from './audit/journal-db.ts';
import { type BootstrapResult, bootstrap, loadRoles } from './auth/bootstrap.ts';
import { KeyStore } from './auth/keys.ts';
import { RateLimits } from './auth/rate-limit.ts';
import { AuthService } from './auth/service.ts';
import { CronScheduler } from './bots/cron.ts';
import { BotRuntime } from './bots/runtime.ts';
import type { ServerConfig } from './config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { removeRuntimeFile, writeRuntimeFile } from './db/runtime-file.ts';
import { TableStatistics } from './db/table-statistics.ts';
import { storeConformanceResources } from './fhir/conformance.ts';
import { loadProfiles } from './fhir/definitions.ts';
import { reindexChangedTypes } from './fhir/reindex.ts';
import type { SecurityDeps } from './http/security.ts';
import { createLogger } from './ops/logging.ts';
import { OpsMetrics } from './ops/metrics.ts';
import { ObservedAuditLog } from './ops/observed-audit.ts';
import { registerOpsRoutes } from './ops/register.ts';
import { pruneTraceContexts, Tracing, tracedBotExecutor } from './ops/tracing.ts';
import { OUTBOX_CHANNEL, SubscriptionEngine } from './subscriptions/engine.ts';
import { OutboxNotifier } from './subscriptions/outbox-notifier.ts';
import { subscriptionSettings } from './subscriptions/settings.ts';
import { WebSocketChannel } from './subscriptions/websocket.ts';

export interface RunningServer {
  app: App;
  /** Where the server listens, e.g. http://127.0.0.1:8103/ */
  url: string;
  databaseUrl: string;
  logger: Logger;
  /** The project, admin and admin client (with generated secrets on the very first start). */
  bootstrap: BootstrapResult;
  auth: AuthService;
  /** Subscription delivery workers of this instance (setBotExecutor wires the bot runtime). */
  subscriptions: SubscriptionEngine;
  /** Prometheus metrics of this instance (its registry is the one passed in, or a new one). */
  metrics: OpsMetrics;
  tracing?: Tracing;
  /** Cron bots of this instance (absent when subscription workers or BOT_CRON are off). */
  cron?: CronScheduler;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Listen (default) or only build the app (for in-process tools). */
  listen?: boolean;
  /** The Prometheus registry for this instance's metrics (a new one when absent). */
  metricsRegistry?: Registry;
  /** Tracing: an instance, null for none, or undefined to follow OTEL_EXPORTER_OTLP_ENDPOINT. */
  tracing?: Tracing | null;
  /**
   * Replaces parts of the security stack (authentication, rate limits, audit) with others. Only
   * in-process tools use it — the auth-cost benchmark's baseline server turns them off this way to
   * measure what they cost; no configuration or environment variable reaches it.
   */
  security?: (real: SecurityDeps) => SecurityDeps;
}

/**
 * Starts the whole server: database (embedded if none configured), migrations, keys, first-start
 * bootstrap and roles, then HTTP. `close()` undoes it in reverse order.
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const tracing = options.tracing === undefined ? Tracing.fromEnv() : (options.tracing ?? undefined);
  const logger = options.logger ?? createLogger({ level: config.logLevel, tracing });
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    mkdirSync(config.dataDir, { recursive: true });
    logger.info({ dataDir: config.dataDir }, 'starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
    databaseUrl = embedded.url;
    // Lets operator commands (npm run admin) reach the running embedded database.
    writeRuntimeFile(config.dataDir, databaseUrl);
  }
  const pool = createPool(databaseUrl, config.dbPoolSize);
  const searchPool = createPool(databaseUrl, searchPoolSize(config.dbPoolSize), { genericPlans: true });
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false, enableAutoPipelining: true })
    : undefined;
  redis?.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
  const auditPool = createAuditPool(databaseUrl);
  const metrics = new OpsMetrics({ registry: options.metricsRegistry ?? new Registry(), pool });
  const audit: AuditLog = new ObservedAuditLog(auditPool, logger, (event) => metrics.observeAudit(event), {
    flushMs: config.auditFlushMs,
  });
  let pruner: NodeJS.Timeout | undefined;
  let subscriptions: SubscriptionEngine | undefined;
  let outbox: OutboxNotifier | undefined;
  let statistics: TableStatistics | undefined;
  let wsChannel: WebSocketChannel | undefined;
  try {
    await migrate(databaseUrl, logger);
    if (config.auditJournalDir) {
      // Before any request: what a stopped process journaled but did not commit is inserted first.
      await audit.setJournal(openJournal(await journalDir(auditPool, config.auditJournalDir)));
    }
    const profiles = loadProfiles(config.profilesDir);
    await reindexChangedTypes(pool, logger);
    const keys = new KeyStore(config.baseUrl);
    await keys.load(pool);
    let app: App | undefined;
    const auth = new AuthService({ pool, keys, systemRepo: () => (app as App).repo() });
    const limits = new RateLimits(config.rateLimits, redis, redis ? await databaseHomeId(pool) : undefined);
    const bots = new BotRuntime({ systemRepo: () => (app as App).repo(), auth, audit, baseUrl: config.baseUrl, logger });
    const security = options.security ? options.security({ auth, limits, audit }) : { auth, limits, audit };
    outbox = new OutboxNotifier({ databaseUrl, logger, channel: OUTBOX_CHANNEL });
    if (config.tableStatistics) {
      statistics = new TableStatistics(pool, logger);
      await statistics.load();
    }
    app = await createApp({
      config,
      pool,
      logger,
      profiles,
      security: { ...security, keys },
      bots,
      ops: { metrics, tracing },
      outboxWakeup: outbox,
      statistics,
      searchPool,
    });
    await loadRoles(app.repo(), config.rolesDir);
    await storeConformanceResources(app.repo(), [...profiles.profiles.values(), ...profiles.searchParameters, ...profiles.others]);
    const boot = await bootstrap(app.repo(), config.firstStart);
    if (config.graphqlWarmup) {
      const started = Date.now();
      await app.warmUpGraphql();
      logger.info({ ms: Date.now() - started }, 'GraphQL schema built');
    }
    const settings = subscriptionSettings(config.subscriptions);
    subscriptions = new SubscriptionEngine({
      pool,
      databaseUrl,
      repoContext: app.repoContext,
      audit,
      logger,
      settings,
    });
    subscriptions.setBotExecutor(tracing ? tracedBotExecutor(bots, tracing, pool) : bots);
    const engineForWakeup = subscriptions;
    outbox.onWritten((created) => {
      engineForWakeup.committed(created);
      return engineForWakeup.kickDispatch();
    });
    subscriptions.onUrgencyChange((urgent) => bots.expectUrgent(urgent));
    let cron: CronScheduler | undefined;
    if (subscriptions.willListen && options.listen !== false) {
      // Every instance hears of every write to a Bot, Project or membership: caches live long.
      subscriptions.onResourceChange((type, id) => bots.resourceChanged(type, id));
      // A family member's access hangs on a Consent (server/family/consent.ts): a revoked consent
      // must not live on in a cached context.
      subscriptions.onResourceChange((type) => {
        if (type === 'Consent' || type === 'RelatedPerson' || type === '*') auth.invalidate();
      });
      bots.followChangeFeed();
      if (settings.cron) {
        const scheduler = new CronScheduler({ pool, executor: bots, logger, owner: subscriptions.owner });
        subscriptions.onResourceChange((type, id) => {
          if (type === 'Bot' || type === '*') scheduler.botChanged(id);
        });
        cron = scheduler;
      }
    }
    wsChannel = new WebSocketChannel({
      keys,
      repo: (o) => (app as App).repo(o),
      baseUrl: config.baseUrl,
      engine: subscriptions,
      pool,
      databaseUrl,
      redisUrl: config.redisUrl,
      logger,
      contextForLogin: (loginId) => auth.contextForLogin(loginId),
    });
    await wsChannel.register(app.fastify);
    const fastify = app.fastify as typeof app.fastify & { websocketServer?: { clients: Set<unknown> } };
    metrics.setWebsocketClients(() => fastify.websocketServer?.clients.size ?? 0);
    metrics.setWebsocketNotices(() => engineForWakeup.noticesSent);
    let closing = false;
    const engineRef = subscriptions;
    registerOpsRoutes(app.fastify, {
      metrics,
      tracing,
      pool,
      systemRepo: () => (app as App).repo(),
      authenticate: (authorization) => auth.authenticate(authorization),
      metricsToken: process.env.METRICS_TOKEN || undefined,
      readiness: {
        pool,
        redis,
        botStats: () => bots.stats(),
        botMinWorkers: bots.options.minWorkers,
        subscriptions: { enabled: settings.enabled && options.listen !== false, running: () => engineRef.running },
        closing: () => closing,
      },
    });
    if (tracing) {
      pruner = setInterval(() => void pruneTraceContexts(pool).catch(() => undefined), 3600_000);
      pruner.unref();
    }
    bots.start();
    if (options.listen !== false) {
      await subscriptions.start();
      await cron?.start();
      await app.fastify.listen({ port: config.port, host: config.host });
    } else {
      await app.fastify.ready();
    }
    let closed = false;
    const started = app;
    const engine = subscriptions;
    const ws = wsChannel;
    return {
      app: started,
      url: config.baseUrl,
      databaseUrl,
      logger,
      bootstrap: boot,
      auth,
      subscriptions: engine,
      metrics,
      tracing,
      cron,
      close: async () => {
        if (closed) return;
        closed = true;
        closing = true;
        if (pruner) clearInterval(pruner);
        await cron?.stop();
        await engine.stop();
        await ws.close();
        await bots.close();
        await started.fastify.close();
        await outbox?.close();
        await statistics?.close();
        await audit.close();
        await auditPool.end();
        await searchPool.end();
        await pool.end();
        redis?.disconnect();
        await tracing?.shutdown().catch(() => undefined);
        await embedded?.stop();
        if (embedded) removeRuntimeFile(config.dataDir);
      },
    };
  } catch (err) {
    if (pruner) clearInterval(pruner);
    await subscriptions?.stop().catch(() => undefined);
    await wsChannel?.close().catch(() => undefined);
    await outbox?.close().catch(() => undefined);
    await statistics?.close().catch(() => undefined);
    await audit.close().catch(() => undefined);
    await auditPool.end().catch(() => undefined);
    await searchPool.end().catch(() => undefined);
    await pool.end().catch(() => undefined);
    redis?.disconnect();
    await embedded?.stop().catch(() => undefined);
    throw err;
  }
}

/** The audit journal in `dir`, or an error that says what to change. */
function openJournal(dir: string): AuditJournal {
  try {
    return new AuditJournal(dir);
  } catch (err) {
    throw new Error(
      `The audit journal cannot be written in ${dir} (${(err as Error).message}): set AUDIT_JOURNAL_DIR to a writable folder, or to off`,
    );
  }
}

/** Searches are short and CPU-bound: half the main pool's connections serve them. */
function searchPoolSize(dbPoolSize: number): number {
  return Math.max(2, Math.ceil(dbPoolSize / 2));
}

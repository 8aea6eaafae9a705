import { randomUUID } from 'node:crypto';
import { getCompileCacheDir } from 'node:module';
import { availableParallelism } from 'node:os';
import { ContentType, createReference, OperationOutcomeError, type WithId } from '@medplum/core';
import type { AuditEvent, Binary, Bot, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuthService } from '../auth/service.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { ensureBotMembership } from './membership.ts';
import { WorkerPool } from './pool.ts';

/** One execution of a bot, as the $execute operation and the subscription engine ask for it. */
export interface BotExecutionRequest {
  botId: string;
  input: unknown;
  contentType: string;
  headers?: Record<string, string>;
  traceId?: string;
  requester?: Reference;
  /**
   * false: the caller records the execution in its own AuditEvent (the subscription engine's
   * delivery audit carries the bot's outcome and log), so one AuditEvent is written, not two.
   */
  audit?: boolean;
  /**
   * Rank among executions waiting for a worker: higher first (a Subscription's priority, see
   * server/subscriptions/subscription.ts); default 0. Above 0 it may also use the pool's reserve worker.
   */
  priority?: number;
}

export interface BotExecutionResult {
  ok: boolean;
  /** HTTP status for an $execute reply: 200, 400 (the bot failed), 404 (no such bot). */
  status: number;
  returnValue?: unknown;
  contentType?: string;
  error?: string;
  durationMs: number;
  /** Captured console output (bounded). */
  log: string;
}

/** The bot runtime as other parts of the server (subscriptions) use it. */
export interface BotExecutor {
  execute(req: BotExecutionRequest): Promise<BotExecutionResult>;
}

export interface BotRuntimeOptions {
  minWorkers: number;
  maxWorkers: number;
  /** Workers beyond maxWorkers kept for executions of a higher priority (see pool.ts). */
  reserveWorkers: number;
  /** The workers' nice value: bots yield the cores to the server's event loop (see pool.ts). */
  nice: number;
  memoryMb: number;
  /** Workers idle this long (ms) are ended down to max(minWorkers, 1); 0 keeps them (pool.ts). */
  idleWorkerMs: number;
  /** Where workers keep their compiled modules (pool.ts); by default the server's own compile cache. */
  compileCacheDir?: string;
  /** Default timeout when Bot.timeout is not set, in seconds. */
  defaultTimeoutSeconds: number;
  /** Captured console output kept per execution, in characters. */
  logLimit: number;
}

export interface BotRuntimeDeps {
  systemRepo: () => PostgresRepository;
  auth: AuthService;
  audit: AuditLog;
  /** Public base URL of this server (bots' MedplumClient talks to it over HTTP). */
  baseUrl: string;
  logger: Logger;
  options?: Partial<BotRuntimeOptions>;
}

/** Content types $execute passes through unchanged (Medplum's EXECUTE_CONTENT_TYPES). */
export const EXECUTE_CONTENT_TYPES: string[] = [ContentType.JSON, ContentType.FHIR_JSON, ContentType.TEXT, ContentType.HL7_V2];

/**
 * How long what is read about a bot is reused. Short unless invalidate()/resourceChanged() are fed
 * by the subscription engine's notifications (every instance hears of every write to a Bot,
 * Project or ProjectMembership), then long: the notification drops it.
 */
const CACHE_MS = { short: { bot: 0, membership: 30_000, secrets: 2_000 }, fed: { bot: 60_000, membership: 300_000, secrets: 60_000 } };
/** Bot tokens last an hour; a new one is minted when less than this remains. */
const TOKEN_REFRESH_MS = 10 * 60_000;
const TOKEN_LIFETIME_MS = 3600_000;
const MAX_CODE_CACHE = 200;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

export function defaultRuntimeOptions(): BotRuntimeOptions {
  const cpus = availableParallelism();
  return {
    // Workers start with the first execution: two idle isolates would cost ~60 MB of a server that runs no bots.
    minWorkers: envInt('BOT_MIN_WORKERS') ?? 0,
    maxWorkers: envInt('BOT_MAX_WORKERS') ?? Math.max(4, Math.min(16, cpus * 2)),
    // One worker that routine executions never occupy: a device alarm or a page starts at once.
    reserveWorkers: envInt('BOT_RESERVE_WORKERS') ?? 1,
    nice: envInt('BOT_NICE') ?? 10,
    memoryMb: envInt('BOT_MEMORY_MB') ?? 128,
    // A burst of bot executions grows the pool to maxWorkers (~30 MB each); a minute without use ends the extra ones.
    idleWorkerMs: envInt('BOT_WORKER_IDLE_MS') ?? 60_000,
    // server/index.ts switched the server's on (NODE_COMPILE_CACHE, else the OS temporary directory).
    compileCacheDir: getCompileCacheDir(),
    defaultTimeoutSeconds: 10,
    logLimit: envInt('BOT_LOG_LIMIT') ?? 10 * 1024,
  };
}

/** The media type without parameters, e.g. "application/json; charset=utf-8" → "application/json". */
export function baseContentType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Runs bots: loads the Bot and its deployed code, a token for the bot's own membership and the
 * project's secrets, runs the handler in the worker pool, and records an AuditEvent.
 */
export class BotRuntime implements BotExecutor {
  readonly options: BotRuntimeOptions;
  private readonly deps: BotRuntimeDeps;
  private readonly pool: WorkerPool;
  private readonly code = new Map<string, string>();
  private readonly memberships = new Map<string, { membership: WithId<ProjectMembership>; expires: number }>();
  private readonly bots = new Map<string, { bot: WithId<Bot>; expires: number }>();
  private cacheMs = CACHE_MS.short;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly secrets = new Map<string, { value: Record<string, unknown>; expires: number }>();

  constructor(deps: BotRuntimeDeps) {
    this.deps = deps;
    this.options = { ...defaultRuntimeOptions(), ...deps.options };
    this.pool = new WorkerPool(this.options, deps.logger);
  }

  /** Starts the idle workers (so the first execution does not wait for one). */
  start(): void {
    this.pool.start();
  }

  /** Whether executions above routine priority may come (see WorkerPool.expectUrgent). */
  expectUrgent(expected: boolean): void {
    this.pool.expectUrgent(expected);
  }

  stats(): ReturnType<WorkerPool['stats']> {
    return this.pool.stats();
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Forgets what is cached about a bot (after a deploy or a membership change). */
  invalidate(botId?: string): void {
    if (botId) {
      this.memberships.delete(botId);
      this.bots.delete(botId);
    } else {
      this.memberships.clear();
      this.bots.clear();
    }
  }

  /** Switches to long-lived caches, invalidated by resourceChanged() for writes on any instance. */
  followChangeFeed(): void {
    this.cacheMs = CACHE_MS.fed;
  }

  /** A committed write to a Bot, Project or ProjectMembership (`'*'`: anything may have changed). */
  resourceChanged(resourceType: string, id: string): void {
    if (resourceType === 'Bot') {
      this.invalidate(id);
    } else if (resourceType === 'ProjectMembership') {
      this.memberships.clear();
    } else if (resourceType === 'Project') {
      this.secrets.delete(`Project/${id}`);
    } else if (resourceType === '*') {
      this.invalidate();
      this.secrets.clear();
    }
  }

  async execute(req: BotExecutionRequest): Promise<BotExecutionResult> {
    const started = performance.now();
    let bot: WithId<Bot>;
    const cached = this.bots.get(req.botId);
    if (cached && cached.expires > Date.now()) {
      bot = cached.bot;
    } else {
      try {
        bot = await this.deps.systemRepo().readResource<Bot>('Bot', req.botId);
      } catch (err) {
        const error = err instanceof OperationOutcomeError ? `Bot ${req.botId} not found` : String(err);
        return { ok: false, status: 404, error, durationMs: performance.now() - started, log: '' };
      }
      if (this.cacheMs.bot > 0) this.bots.set(req.botId, { bot, expires: Date.now() + this.cacheMs.bot });
    }
    return this.executeBot(bot, req);
  }

  /** Runs a Bot already read (the $execute route reads it with the caller's policy first). */
  async executeBot(bot: WithId<Bot>, req: Omit<BotExecutionRequest, 'botId'>, projectId?: string): Promise<BotExecutionResult> {
    const startedAt = new Date();
    const started = performance.now();
    const traceId = req.traceId ?? randomUUID();
    const contentType = baseContentType(req.contentType) || ContentType.JSON;
    let result: Omit<BotExecutionResult, 'durationMs'>;
    try {
      result = await this.run(bot, { ...req, traceId, contentType }, projectId);
    } catch (err) {
      const error = err instanceof OperationOutcomeError ? (err.outcome.issue?.[0]?.details?.text ?? err.message) : String(err);
      this.deps.logger.error({ err, bot: bot.id }, 'bot execution failed before running');
      result = { ok: false, status: 400, error, log: error };
    }
    const durationMs = performance.now() - started;
    const full: BotExecutionResult = { ...result, durationMs };
    if (req.audit === false) {
      return full;
    }
    await this.recordAudit(bot, { ...req, traceId }, full, startedAt).catch((err) =>
      this.deps.logger.error({ err, bot: bot.id }, 'bot audit record failed'),
    );
    return full;
  }

  private async run(
    bot: WithId<Bot>,
    req: Omit<BotExecutionRequest, 'botId'> & { traceId: string },
    projectId: string | undefined,
  ): Promise<Omit<BotExecutionResult, 'durationMs'>> {
    const url = bot.executableCode?.url;
    if (!url) {
      return { ok: false, status: 400, error: 'No executable code (deploy the bot first)', log: '' };
    }
    if (!url.startsWith('Binary/')) {
      return { ok: false, status: 400, error: 'Executable code is not a Binary', log: '' };
    }
    const membership = await this.membershipFor(bot, projectId);
    const [code, accessToken, secrets] = await Promise.all([
      this.loadCode(url),
      this.tokenFor(membership.id),
      this.secretsFor(membership.project?.reference as string),
    ]);
    const timeoutSeconds = bot.timeout && bot.timeout > 0 ? bot.timeout : this.options.defaultTimeoutSeconds;
    const result = await this.pool.run(
      {
        codeKey: `${bot.id}/${bot.meta?.versionId}/${url}`,
        filename: `bot-${bot.id}-${bot.executableCode?.title ?? 'index.js'}`,
        baseUrl: this.deps.baseUrl,
        accessToken,
        logLimit: this.options.logLimit,
        event: {
          bot: { reference: `Bot/${bot.id}`, ...(bot.name ? { display: bot.name } : {}) },
          contentType: req.contentType,
          input: req.input,
          secrets,
          traceId: req.traceId,
          ...(req.requester ? { requester: req.requester } : {}),
          ...(req.headers ? { headers: req.headers } : {}),
        },
      },
      code,
      timeoutSeconds * 1000,
      req.priority ?? 0,
    );
    const replyType = EXECUTE_CONTENT_TYPES.includes(req.contentType) ? req.contentType : ContentType.FHIR_JSON;
    return result.ok
      ? { ok: true, status: 200, returnValue: result.returnValue, contentType: replyType, log: result.log }
      : { ok: false, status: 400, error: result.error, contentType: replyType, log: result.log };
  }

  private async membershipFor(bot: WithId<Bot>, projectId: string | undefined): Promise<WithId<ProjectMembership>> {
    const cached = this.memberships.get(bot.id);
    if (cached && cached.expires > Date.now()) {
      return cached.membership;
    }
    const membership = await ensureBotMembership(this.deps.systemRepo(), bot, projectId);
    this.memberships.set(bot.id, { membership, expires: Date.now() + this.cacheMs.membership });
    return membership;
  }

  private async tokenFor(membershipId: string): Promise<string> {
    const cached = this.tokens.get(membershipId);
    if (cached && cached.expires - TOKEN_REFRESH_MS > Date.now()) {
      return cached.token;
    }
    const token = await this.deps.auth.tokenForMembership(membershipId);
    this.tokens.set(membershipId, { token, expires: Date.now() + TOKEN_LIFETIME_MS });
    return token;
  }

  private async secretsFor(projectRef: string): Promise<Record<string, unknown>> {
    const cached = this.secrets.get(projectRef);
    if (cached && cached.expires > Date.now()) {
      return cached.value;
    }
    const project = await this.deps.systemRepo().readReference<Project>({ reference: projectRef });
    const value = Object.fromEntries((project.secret ?? []).map((s) => [s.name, s]));
    this.secrets.set(projectRef, { value, expires: Date.now() + this.cacheMs.secrets });
    return value;
  }

  /** The deployed code; a Binary is immutable once deployed ($deploy always writes a new one). */
  private async loadCode(url: string): Promise<string> {
    const cached = this.code.get(url);
    if (cached !== undefined) {
      return cached;
    }
    const repo = this.deps.systemRepo();
    const binary = await repo.readReference<Binary>({ reference: url });
    const { rows } = await repo.query<{ data: Buffer }>('SELECT data FROM binary_content WHERE version_id = $1', [binary.meta?.versionId]);
    const code = rows[0]?.data ? rows[0].data.toString('utf8') : Buffer.from(binary.data ?? '', 'base64').toString('utf8');
    if (this.code.size >= MAX_CODE_CACHE) {
      this.code.delete(this.code.keys().next().value as string);
    }
    this.code.set(url, code);
    return code;
  }

  private recordAudit(
    bot: WithId<Bot>,
    req: Omit<BotExecutionRequest, 'botId'> & { traceId: string },
    result: BotExecutionResult,
    startedAt: Date,
  ): Promise<void> {
    if (bot.auditEventTrigger === 'never' || (bot.auditEventTrigger === 'on-error' && result.ok)) {
      return Promise.resolve();
    }
    let desc = result.log || (result.ok ? '' : (result.error ?? ''));
    if (!result.ok && result.error && !desc.includes(result.error)) {
      desc = `${desc}\n${result.error}`.trim();
    }
    if (desc.length > this.options.logLimit) {
      desc = desc.slice(-this.options.logLimit);
    }
    const botRef = createReference(bot) as Reference;
    const event: AuditEvent = {
      resourceType: 'AuditEvent',
      type: { system: 'https://medplum.com/CodeSystem/audit-event-type', code: 'execute', display: 'Bot execution' },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'operation', display: '$execute' }],
      action: 'E',
      period: { start: startedAt.toISOString(), end: new Date().toISOString() },
      recorded: new Date().toISOString(),
      outcome: result.ok ? '0' : '4',
      ...(desc ? { outcomeDesc: desc } : {}),
      agent: [
        {
          type: { text: 'bot' },
          who: botRef as NonNullable<AuditEvent['agent'][number]['who']>,
          requestor: false,
        },
        ...(req.requester
          ? [{ who: req.requester as NonNullable<AuditEvent['agent'][number]['who']>, requestor: true, type: { text: 'requester' } }]
          : []),
      ],
      source: { observer: botRef as AuditEvent['source']['observer'] },
      entity: [
        {
          what: botRef,
          detail: [
            { type: 'durationMs', valueString: result.durationMs.toFixed(1) },
            { type: 'traceId', valueString: req.traceId },
            { type: 'contentType', valueString: baseContentType(req.contentType) },
          ],
        },
      ],
    };
    return this.deps.audit.record(event);
  }
}

import { parse as parseQueryString } from 'node:querystring';
import { allOk, getStatus, isOk, isResourceType, OperationOutcomeError } from '@medplum/core';
import { type FhirRequestConfig, FhirRouter, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { registerProjectAdminRoutes } from './admin/routes.ts';
import type { KeyStore } from './auth/keys.ts';
import { registerResetPasswordRoute } from './auth/resetpassword.ts';
import { registerAuthRoutes } from './auth/routes.ts';
import { registerSetPasswordRoute } from './auth/setpassword.ts';
import { registerBotRoutes } from './bots/routes.ts';
import { type BotRuntime, baseContentType } from './bots/runtime.ts';
import type { ServerConfig } from './config.ts';
import type { TableStatistics } from './db/table-statistics.ts';
import { BaseDefinitions } from './fhir/base-definitions.ts';
import { transactionCriteriaKeys } from './fhir/criteria-lock.ts';
import type { LoadedProfiles } from './fhir/definitions.ts';
import { registerBinaryRoutes } from './fhir/operations/binary.ts';
import { registerLookupRoutes } from './fhir/operations/codesystem-lookup.ts';
import { type CustomOperationResult, tryCustomOperation } from './fhir/operations/custom.ts';
import { registerEdMetricsRoutes } from './fhir/operations/ed-metrics.ts';
import { registerEverythingRoutes } from './fhir/operations/everything.ts';
import { registerExpandRoutes } from './fhir/operations/expand.ts';
import { registerExpandProfileRoutes } from './fhir/operations/expand-profile.ts';
import { registerExportRoutes } from './fhir/operations/export.ts';
import { registerFamilyStatusRoutes } from './fhir/operations/family-status.ts';
import { registerHistoryRoutes } from './fhir/operations/history.ts';
import { registerInviteFamilyRoutes } from './fhir/operations/invite-family.ts';
import { buildCapabilityStatement } from './fhir/operations/metadata.ts';
import { registerOcrRoutes } from './fhir/operations/ocr.ts';
import { registerValidateRoutes } from './fhir/operations/validate.ts';
import type { OutboxWakeup } from './fhir/outbox-notify.ts';
import { internalError, PostgresRepository, type RepositoryContext, type RepositoryOptions } from './fhir/repo.ts';
import { installSearchRoutes } from './fhir/search/routes.ts';
import { SearchStatements } from './fhir/search/statements.ts';
import { TerminologyCatalog } from './fhir/terminology/catalog.ts';
import { ResourceValidator, Terminology } from './fhir/validation.ts';
import { checkBundle, checkFhirBody, checkPaging, preferences, splitFhirUrl } from './http/fhir-request.ts';
import { registerHl7LogRoute } from './http/hl7-log.ts';
import { JSON_CONTENT_TYPES, parseJsonBody } from './http/json.ts';
import { FHIR_JSON, outcome, sendOutcome } from './http/outcomes.ts';
import { ownReply } from './http/own-reply.ts';
import { isReadOnlyBatch, runReadOnlyBatch } from './http/read-batch.ts';
import { registerSecurity, type SecurityDeps } from './http/security.ts';
import { registerStaticApp } from './http/static-app.ts';
import { type OpsHookDeps, registerOpsHooks, requestId } from './ops/register.ts';
import { registerResendRoutes } from './subscriptions/resend.ts';
import { registerSubscriptionAdminRoutes } from './subscriptions/routes.ts';
import { registerStripeWebhook } from './webhooks/stripe.ts';

/** What FhirRouter may do for a request: transactions, and bounds for GraphQL (a fresh object per request). */
const routerConfig = (): FhirRequestConfig => ({ transactions: true, graphqlMaxDepth: 12, graphqlMaxSearches: 20 });

export interface AppDeps {
  config: ServerConfig;
  pool: pg.Pool;
  logger: Logger;
  profiles: LoadedProfiles;
  security: SecurityDeps & { keys: KeyStore };
  /** The bot runtime ($execute, $deploy); created by the server, which owns its workers. */
  bots: BotRuntime;
  /** Metrics and tracing (server/ops). */
  ops?: OpsHookDeps;
  /** Wakes the subscription workers after commits (server/subscriptions/outbox-notifier.ts); absent: writes NOTIFY at commit. */
  outboxWakeup?: OutboxWakeup;
  /** Keeps the search tables' planner statistics current while the database is young. */
  statistics?: TableStatistics;
  /** Connections that run named search statements with their generic plans (RepositoryContext.searchPool). */
  searchPool?: pg.Pool;
}

export interface App {
  fastify: FastifyInstance;
  repoContext: RepositoryContext;
  /** A repository; without a policy in `options` it acts as the server itself (unrestricted). */
  repo(options?: RepositoryOptions): PostgresRepository;
  /** Builds FhirRouter's GraphQL schema (seconds of CPU) now rather than on the first $graphql request. */
  warmUpGraphql(): Promise<void>;
  /** Runs bots (also what the subscription engine delivers to). */
  bots: BotRuntime;
}

export const FHIR_PREFIX = '/fhir/R4/';

const FHIR_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** Methods answered anywhere (HEAD comes with every GET route). */
const KNOWN_METHODS = new Set<string>([...FHIR_METHODS, 'HEAD']);
const HEALTH_TIMEOUT_MS = 2_000;

function setResourceHeaders(reply: FastifyReply, resource: Resource | undefined, fhirBaseUrl: string, status: number): void {
  if (!resource?.meta?.versionId || !resource.id) {
    return;
  }
  reply.header('ETag', `W/"${resource.meta.versionId}"`);
  if (resource.meta.lastUpdated) {
    reply.header('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  }
  if (status === 201) {
    reply.header('Location', `${fhirBaseUrl}${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`);
  }
}

/** Maps errors fastify raises itself (parsing, limits) to OperationOutcomes; undefined for anything else. */
function frameworkOutcome(
  err: Error & { statusCode?: number; code?: string },
  config: ServerConfig,
): [OperationOutcome, number] | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [outcome('too-costly', `Request body exceeds the limit of ${config.maxBodyBytes} bytes`), 413];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [outcome('not-supported', `Unsupported content type: ${err.message}`), 415];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [outcome('invalid', 'Empty request body'), 400];
    case 'FST_ERR_BAD_URL':
      return [outcome('invalid', 'The request URL is not valid (bad percent-encoding?)'), 400];
    default:
      break;
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return [outcome('invalid', err.message), err.statusCode];
  }
  return undefined;
}

/** Builds the HTTP application. Everything it needs comes in through `deps`; it keeps no globals. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, pool, logger, profiles } = deps;
  const fhirBaseUrl = `${config.baseUrl}fhir/R4/`;
  const terminology = new Terminology(profiles.others);
  terminology.preload();
  const repoContext: RepositoryContext = {
    pool,
    fhirBaseUrl,
    defaultSearchCount: config.defaultSearchCount,
    maxSearchCount: config.maxSearchCount,
    profiles: profiles.profiles,
    validator: new ResourceValidator(profiles.profiles, terminology),
    logger,
    auditReady: () => deps.security.audit.indexPending(),
    traceparent: deps.ops?.tracing ? () => deps.ops?.tracing?.currentTraceparent() : undefined,
    baseDefinitions: new BaseDefinitions(),
    searchStatements: new SearchStatements(),
    searchPool: deps.searchPool,
    outboxWakeup: deps.outboxWakeup,
    statistics: deps.statistics,
    onTransactionRetry: deps.ops ? (reason) => deps.ops?.metrics.transactionRetries.inc({ reason }) : undefined,
  };
  const newRepo = (options: RepositoryOptions = {}): PostgresRepository => new PostgresRepository(repoContext, options);
  const repoFor = (request: FastifyRequest, options: RepositoryOptions = {}): PostgresRepository => {
    if (!request.auth) {
      // Every route that reaches the data is behind authentication; this is a wiring bug.
      throw new Error('repository requested for an unauthenticated request');
    }
    return newRepo({ ...options, policy: request.auth.policy });
  };
  const router = new FhirRouter();
  installSearchRoutes(router);
  const capabilityStatement = JSON.stringify(buildCapabilityStatement(config.baseUrl, profiles.profiles));

  const fastify = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines would double our own structured logs; errors are logged where they are handled.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    // FHIR ids and search values may contain characters fastify would otherwise reject.
    routerOptions: { maxParamLength: 1024, ignoreTrailingSlash: true },
    return503OnClosing: true,
    // Every log line of a request carries its id; a caller's X-Request-Id is kept for correlation.
    genReqId: (req) => requestId(req.headers['x-request-id']),
    trustProxy: config.trustProxy,
    frameworkErrors: (err, _request, reply) => {
      const [oo, status] = frameworkOutcome(err, config) ?? [outcome('invalid', 'Bad request'), 400];
      sendOutcome(reply, oo, status);
    },
  });

  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(JSON_CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string, config.maxJsonDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseQueryString(body as string));
  });
  // Anything else arrives as raw bytes, so handlers can answer 415 themselves (and Binary can store it).
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  fastify.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (err instanceof OperationOutcomeError) {
      return sendOutcome(reply, err.outcome, statusOf(err.outcome));
    }
    const known = frameworkOutcome(err, config);
    if (known) {
      return sendOutcome(reply, known[0], known[1]);
    }
    request.log.error({ err }, 'unhandled error');
    return sendOutcome(reply, internalError, 500);
  });
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    if (!KNOWN_METHODS.has(request.method)) {
      reply.header('Allow', [...KNOWN_METHODS].join(', '));
      return sendOutcome(reply, outcome('not-supported', `HTTP method ${request.method} is not supported`), 405);
    }
    return sendOutcome(reply, outcome('not-found', `No route for ${request.method} ${request.url.split('?')[0]}`), 404);
  };

  if (deps.ops) registerOpsHooks(fastify, deps.ops);
  await registerSecurity(fastify, deps.security, {
    baseUrl: config.baseUrl,
    corsOrigins: config.corsOrigins,
  });
  registerAuthRoutes(fastify, {
    baseUrl: config.baseUrl,
    auth: deps.security.auth,
    keys: deps.security.keys,
    limits: deps.security.limits,
    audit: deps.security.audit,
    systemRepo: () => newRepo(),
    requireAuth: async (request) => request.auth ?? deps.security.auth.authenticate(request.headers.authorization),
  });
  registerSetPasswordRoute(fastify, {
    limits: deps.security.limits,
    audit: deps.security.audit,
    systemRepo: () => newRepo(),
    invalidateAuth: () => deps.security.auth.invalidate(),
  });
  registerResetPasswordRoute(fastify, { appBaseUrl: config.baseUrl, limits: deps.security.limits, systemRepo: () => newRepo() });

  fastify.get('/healthcheck', async (_request, reply) => {
    const postgres = await databaseReachable(pool);
    return reply.code(postgres ? 200 : 503).send({
      ok: postgres,
      version: '0.1.0',
      postgres,
      redis: config.redisUrl ? 'configured' : 'not configured',
      bots: deps.bots.stats(),
    });
  });

  fastify.get(`${FHIR_PREFIX}metadata`, async (_request, reply) => reply.type(FHIR_JSON).send(capabilityStatement));

  /** A bot-implemented operation (OperationDefinition + Bot, as in Medplum), if one matches the URL. */
  const runCustomOperation = async (request: FastifyRequest, segments: string[]): Promise<CustomOperationResult | undefined> => {
    if (!request.auth) {
      return undefined;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) {
      if (typeof v === 'string' && k !== 'authorization' && k !== 'cookie') headers[k] = v;
    }
    return tryCustomOperation(
      {
        method: request.method,
        segments,
        body: request.body,
        query: (request.query ?? {}) as Record<string, unknown>,
        contentType: baseContentType(request.headers['content-type']) || 'application/json',
        headers,
        traceId: headers['x-trace-id'],
      },
      { caller: repoFor(request), system: newRepo() },
      deps.bots,
      request.auth,
    );
  };

  // Sends its reply and resolves to nothing: an async function that returned the reply (a
  // thenable) would make fastify watch the response's end, see ownReply.
  const handleFhir = async (request: FastifyRequest, reply: FastifyReply, parsedBody: unknown = request.body): Promise<void> => {
    const prefer = preferences(request.headers.prefer);
    const { path, search, segments } = splitFhirUrl(request.url, FHIR_PREFIX);
    const url = search ? `${path}?${search}` : path;
    // FhirRouter itself implements only $graphql; any other `$code` here is a custom operation
    // (a GET of `Type/$code` would otherwise be taken for a read of the id "$code").
    if (segments.at(-1)?.startsWith('$') && path !== '$graphql') {
      const custom = await runCustomOperation(request, segments);
      if (custom) {
        if ('outcome' in custom) sendOutcome(reply, custom.outcome, custom.status);
        else reply.code(custom.status).type(FHIR_JSON).send(JSON.stringify(custom.resource));
        return;
      }
    }
    const problem = pathProblem(request.method, segments);
    if (problem) {
      sendRouteProblem(reply, problem);
      return;
    }
    if (isPlainRead(request.method, segments, search)) {
      // The stored JSON goes out as stored: FhirRouter would parse it and serialise it again.
      const stored = await repoFor(request).readStored(segments[0], segments[1]);
      reply.header('ETag', `W/"${stored.versionId}"`);
      reply.header('Last-Modified', stored.lastUpdated.toUTCString());
      reply.code(200).type(FHIR_JSON).send(stored.text);
      return;
    }
    const body = checkFhirBody(request.method, segments, parsedBody, request.headers['content-type']);
    if (request.method === 'POST' && segments.length === 0) {
      checkBundle(body as Record<string, unknown>);
    }
    checkPaging(request.query as Record<string, unknown>);
    if (segments.at(-1) === '_search') {
      checkPaging(body as Record<string, unknown>);
    }
    const repo = repoFor(request, { strictSearch: prefer.handling === 'strict' });
    if (request.method === 'POST' && segments.length === 0 && (body as Bundle | undefined)?.type === 'transaction') {
      repo.lockCriteriaFirst(transactionCriteriaKeys(body as Bundle));
    }
    if (request.method === 'POST' && segments.length === 0 && isReadOnlyBatch(router, body)) {
      const bundle = await runReadOnlyBatch(router, repo, body, routerConfig());
      sendFhirResponse(reply, allOk, bundle, { contentType: undefined, preferReturn: prefer.return, fhirBaseUrl, log: request.log });
      return;
    }
    const [oo, resource, options] = await router.handleRequest(
      {
        method: request.method as HttpMethod,
        url,
        pathname: '',
        body,
        params: {},
        query: (request.query ?? {}) as Record<string, string | string[]>,
        headers: request.headers,
        config: routerConfig(),
      },
      repo,
    );
    // FhirRouter answers a request it has no route for with a plain 404; say which methods would work.
    const wrongMethod = getStatus(oo) === 404 ? methodProblem(router, request.method, url) : undefined;
    if (wrongMethod) {
      sendRouteProblem(reply, wrongMethod);
      return;
    }
    // FhirRouter answers every update with 200; an update that created the resource is a 201.
    const createdByPut = request.method === 'PUT' && segments.length === 2 && repo.lastUpdateCreated && isOk(oo);
    sendFhirResponse(reply, oo, resource, {
      contentType: options?.contentType,
      preferReturn: prefer.return,
      fhirBaseUrl,
      log: request.log,
      status: createdByPut ? 201 : undefined,
    });
  };

  registerSubscriptionAdminRoutes(fastify, pool);
  registerHl7LogRoute(fastify, () => newRepo());
  // The clinician app at `/` when it has been built (`npm start` builds it when missing or stale).
  fastify.setNotFoundHandler(await registerStaticApp(fastify, config.appDir, notFound));

  const routeDeps = { fhirBaseUrl, repoFor, config, handleFhir };
  await fastify.register(async (binaryScope) => registerBinaryRoutes(binaryScope, routeDeps));
  registerHistoryRoutes(fastify, routeDeps);
  registerBotRoutes(fastify, { bots: deps.bots, repoFor });
  registerResendRoutes(fastify, { pool, repoFor });
  registerProjectAdminRoutes(fastify, { pool, appBaseUrl: config.baseUrl, repoFor, invalidateAuth: () => deps.security.auth.invalidate() });
  registerValidateRoutes(fastify, routeDeps);
  registerEverythingRoutes(fastify, routeDeps);
  registerExportRoutes(fastify, {
    ...routeDeps,
    repo: newRepo,
    logger,
    runner: { audit: (event) => deps.security.audit.record(event) },
  });
  registerEdMetricsRoutes(fastify, { ...routeDeps, repo: newRepo });
  registerFamilyStatusRoutes(fastify, { ...routeDeps, repo: newRepo });
  registerInviteFamilyRoutes(fastify, {
    ...routeDeps,
    appBaseUrl: config.baseUrl,
    repo: newRepo,
    invalidateAuth: () => deps.security.auth.invalidate(),
  });
  registerOcrRoutes(fastify, routeDeps);
  const catalog = new TerminologyCatalog(profiles.others);
  registerExpandRoutes(fastify, { ...routeDeps, terminology: catalog });
  registerLookupRoutes(fastify, { ...routeDeps, terminology: catalog });
  registerExpandProfileRoutes(fastify, { ...routeDeps, profiles: profiles.profiles });
  await registerStripeWebhook(fastify, { bots: deps.bots, systemRepo: () => newRepo() });

  for (const method of FHIR_METHODS) {
    fastify.route({ method, url: `${FHIR_PREFIX}*`, handler: ownReply(handleFhir) });
    fastify.route({ method, url: '/fhir/R4', handler: ownReply(handleFhir) });
  }

  const warmUpGraphql = async (): Promise<void> => {
    // `__typename` needs no data: the request only makes the router build and cache its schema.
    const request = { method: 'POST' as const, url: '$graphql', pathname: '', body: { query: '{ __typename }' }, params: {}, query: {} };
    const [oo] = await router.handleRequest(request, newRepo());
    if (!isOk(oo)) {
      logger.warn({ outcome: oo }, 'GraphQL warm-up failed');
    }
  };

  return { fastify, repoContext, repo: newRepo, warmUpGraphql, bots: deps.bots };
}

/** `GET Type/id` without parameters: a read that needs nothing but the stored text. */
function isPlainRead(method: string, segments: string[], search: string): boolean {
  return (
    (method === 'GET' || method === 'HEAD') && !search && segments.length === 2 && !/^[$_]/.test(segments[0]) && !/^[$_]/.test(segments[1])
  );
}

interface RouteProblem {
  outcome: OperationOutcome;
  status: number;
  allow?: string[];
}

function routeExists(router: FhirRouter, method: string, url: string): boolean {
  try {
    return !!router.find(method as HttpMethod, url);
  } catch {
    return true; // The router will explain what is wrong with the URL.
  }
}

/**
 * Requests FhirRouter cannot route, answered precisely: an unknown resource type is 404 (FHIR
 * http); metadata is only read. Checked before routing.
 */
function pathProblem(method: string, segments: string[]): RouteProblem | undefined {
  if (segments[0] === 'metadata') {
    return { outcome: outcome('not-supported', `${method} is not supported on metadata`), status: 405, allow: ['GET', 'HEAD'] };
  }
  if (segments[0] && !/^[$_]/.test(segments[0]) && !isResourceType(segments[0])) {
    return { outcome: outcome('not-found', `Unknown resource type "${segments[0]}"`), status: 404 };
  }
  return undefined;
}

/**
 * After FhirRouter answered 404: when it had no route for the method, a 405 with the methods that
 * would work. Looked up only then, not before every request (a route lookup of its own).
 */
function methodProblem(router: FhirRouter, method: string, url: string): RouteProblem | undefined {
  if (routeExists(router, method, url)) {
    return undefined; // A real 404 (no such resource).
  }
  const allow = FHIR_METHODS.filter((m) => routeExists(router, m, url));
  if (allow.length === 0) {
    return undefined; // The router's 404 stands.
  }
  return { outcome: outcome('not-supported', `${method} is not supported on this URL`), status: 405, allow };
}

function sendRouteProblem(reply: FastifyReply, problem: RouteProblem): FastifyReply {
  if (problem.allow) {
    reply.header('Allow', problem.allow.join(', '));
  }
  return sendOutcome(reply, problem.outcome, problem.status);
}

async function databaseReachable(pool: pg.Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([pool.query('SELECT 1').then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

interface ResponseOptions {
  contentType: string | undefined;
  preferReturn: string | undefined;
  fhirBaseUrl: string;
  log: FastifyRequest['log'];
  /** Overrides the status derived from the outcome. */
  status?: number;
}

function sendFhirResponse(reply: FastifyReply, oo: OperationOutcome, resource: Resource | undefined, opts: ResponseOptions): FastifyReply {
  const status = opts.status ?? statusOf(oo);
  if (status >= 500) {
    opts.log.error({ outcome: oo }, 'FHIR request failed');
    return sendOutcome(reply, internalError, 500);
  }
  if (!isOk(oo) || !resource) {
    return sendOutcome(reply, oo, status);
  }
  setResourceHeaders(reply, resource, opts.fhirBaseUrl, status);
  reply.code(status);
  if (opts.preferReturn === 'minimal') {
    return reply.send();
  }
  if (opts.preferReturn === 'OperationOutcome') {
    return reply.type(FHIR_JSON).send(JSON.stringify(oo));
  }
  return reply.type(opts.contentType ?? FHIR_JSON).send(JSON.stringify(resource));
}

/** The HTTP status of an outcome; an outcome core cannot classify is our failure. */
function statusOf(oo: OperationOutcome): number {
  try {
    return oo.issue?.[0]?.code === 'exception' ? 500 : getStatus(oo);
  } catch {
    // A malformed outcome is a bug on our side, not the client's problem.
    return 500;
  }
}

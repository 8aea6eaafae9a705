import { randomUUID } from 'node:crypto';
import { forbidden, OperationOutcomeError, unauthorized } from '@medplum/core';
import { type Context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { PostgresRepository } from '../fhir/repo.ts';
import { interactionOf } from '../http/security.ts';
import { agentsReport } from './agents.ts';
import { type ReadinessDeps, readiness } from './health.ts';
import type { OpsMetrics } from './metrics.ts';
import type { Tracing } from './tracing.ts';

export interface OpsHookDeps {
  metrics: OpsMetrics;
  tracing?: Tracing;
}

export interface OpsRouteDeps extends OpsHookDeps {
  readiness: ReadinessDeps;
  pool: pg.Pool;
  systemRepo: () => PostgresRepository;
  /** Authenticates a bearer token (the app's static routes may have let the request through without one). */
  authenticate: (authorization: string | undefined) => Promise<{ membership: { admin?: boolean } }>;
  /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
}

const FHIR_PREFIX = '/fhir/R4';

interface RequestState {
  started: number;
  ctx?: Context;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the caller's X-Request-Id when it is a plain token, else a new UUID. */
export function requestId(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The FHIR interaction and resource type of a request, for metrics labels. Only the resource type
 * and interaction go into labels: ids and query strings never do (cardinality, and a search string
 * may be a patient's name).
 */
function fhirLabels(request: FastifyRequest): { interaction: string; resourceType: string } | undefined {
  const path = request.url.split('?')[0];
  if (path !== FHIR_PREFIX && !path.startsWith(`${FHIR_PREFIX}/`)) return undefined;
  const segments = path.slice(FHIR_PREFIX.length).split('/').filter(Boolean);
  if (segments[0] === 'metadata') return { interaction: 'capabilities', resourceType: 'none' };
  const bundleType = (request.body as { type?: string } | undefined)?.type;
  const interaction = interactionOf(request.method, segments, typeof bundleType === 'string' ? bundleType : undefined);
  const type = segments[0] && /^[A-Z][A-Za-z]{1,63}$/.test(segments[0]) ? segments[0] : 'none';
  return { interaction, resourceType: type };
}

/**
 * Observability hooks, registered before every other hook so that they see every request (also
 * those that authentication or rate limits refuse): per-request metrics, a trace span per request
 * (when tracing is on) and a structured access line (debug level; errors at error level).
 */
export function registerOpsHooks(fastify: FastifyInstance, deps: OpsHookDeps): void {
  const state = new WeakMap<FastifyRequest, RequestState>();
  const { tracing, metrics } = deps;

  fastify.addHook('onRequest', (request, _reply, done) => {
    const s: RequestState = { started: performance.now() };
    state.set(request, s);
    if (!tracing) return done();
    const parent = tracing.extract(request.headers);
    const span = tracing.startSpan(
      `${request.method} ${request.url.split('?')[0].split('/').slice(0, 4).join('/')}`,
      SpanKind.SERVER,
      parent,
      {
        'http.request.method': request.method,
        'emergisphere.request_id': request.id,
      },
    );
    s.ctx = trace.setSpan(parent, span);
    tracing.with(s.ctx, done);
  });
  // Body parsing continues on the socket's async context; re-enter the request's before the handler.
  fastify.addHook('preHandler', (request, _reply, done) => {
    const ctx = state.get(request)?.ctx;
    if (tracing && ctx) tracing.with(ctx, done);
    else done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const s = state.get(request);
    const seconds = s ? (performance.now() - s.started) / 1000 : 0;
    // The route template (e.g. /fhir/R4/*), never the URL: ids and search values stay out of labels.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeHttp(request.method, route, reply.statusCode, seconds);
    const fhir = fhirLabels(request);
    if (fhir) metrics.observeFhir(fhir.interaction, fhir.resourceType, reply.statusCode);
    const span = s?.ctx ? trace.getSpan(s.ctx) : undefined;
    if (span) {
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (fhir) {
        span.setAttribute('fhir.interaction', fhir.interaction);
        span.setAttribute('fhir.resource_type', fhir.resourceType);
        span.updateName(`${fhir.interaction} ${fhir.resourceType}`);
      }
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    const line = {
      method: request.method,
      route,
      ...(fhir ? { interaction: fhir.interaction, resourceType: fhir.resourceType } : {}),
      status: reply.statusCode,
      ms: Math.round(seconds * 10_000) / 10,
      ...(span ? { traceId: span.spanContext().traceId } : {}),
    };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else request.log.debug(line, 'request');
    done();
  });
}

/** GET /health/ready (open), GET /health/agents (project admins), GET /metrics (open or METRICS_TOKEN). */
export function registerOpsRoutes(fastify: FastifyInstance, deps: OpsRouteDeps): void {
  const { metrics } = deps;
  fastify.get('/health/ready', async (_request, reply) => {
    const result = await readiness(deps.readiness);
    return reply
      .code(result.ready ? 200 : 503)
      .header('Cache-Control', 'no-store')
      .send(result);
  });

  fastify.get('/health/agents', async (request, reply) => {
    // Project admins only: bot names, failure rates and queues describe the deployment.
    if (!request.headers.authorization) {
      reply.header('WWW-Authenticate', 'Bearer realm="EmergiSphere"');
      throw new OperationOutcomeError(unauthorized);
    }
    const caller = request.auth ?? (await deps.authenticate(request.headers.authorization));
    if (!caller.membership.admin) throw new OperationOutcomeError(forbidden);
    return reply.header('Cache-Control', 'no-store').send(await agentsReport(deps.systemRepo(), deps.pool));
  });

  fastify.get('/metrics', async (request, reply) => {
    if (deps.metricsToken && request.headers.authorization !== `Bearer ${deps.metricsToken}`) {
      reply.header('WWW-Authenticate', 'Bearer realm="metrics"');
      return reply.code(401).type('text/plain').send('metrics token required\n');
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

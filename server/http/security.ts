import cors from '@fastify/cors';
import { OperationOutcomeError, tooManyRequests } from '@medplum/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Interaction, RestAuditFacts } from '../audit/events.ts';
import type { AuthContext } from '../auth/context.ts';
import type { LimitResult, RateLimits } from '../auth/rate-limit.ts';
import type { AuthService } from '../auth/service.ts';
import { registerSecurityHeaders } from './security-headers.ts';
import { isAppPath } from './static-app.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set for every request that needs one. */
    auth?: AuthContext;
    /** The request's AuditEvent is still to be recorded (AuditLog.expectEvent). */
    auditExpected?: boolean;
  }
}

export interface SecurityDeps {
  auth: AuthService;
  limits: RateLimits;
  audit: AuditLog;
}

/** Paths anyone may call: discovery, sign-in, health, the CapabilityStatement. */
function isPublic(path: string): boolean {
  return (
    path === '/healthcheck' ||
    // Readiness for load balancers and the Prometheus scrape (METRICS_TOKEN guards it when set).
    path === '/health/ready' ||
    path === '/metrics' ||
    path === '/fhir/R4/metadata' ||
    path.startsWith('/.well-known/') ||
    path === '/oauth2/token' ||
    path === '/oauth2/revoke' ||
    path === '/auth/login' ||
    path === '/auth/method' ||
    // Redeeming an invite/reset link and asking for one: the secret in the link is the credential.
    path === '/auth/setpassword' ||
    path === '/auth/resetpassword' ||
    // Stripe signs its webhooks; the billing agent verifies the signature.
    path === '/webhook/stripe' ||
    // The websocket subscription channel authenticates each bind message with its binding token.
    path === '/ws/subscriptions-r4'
  );
}

function isFhir(path: string): boolean {
  return path === '/fhir/R4' || path.startsWith('/fhir/R4/');
}

/** Requests that leave an AuditEvent: every FHIR interaction except the CapabilityStatement. */
function isAudited(method: string, path: string): boolean {
  return isFhir(path) && path !== '/fhir/R4/metadata' && method !== 'OPTIONS';
}

/** The FHIR interaction a request performs, for its AuditEvent. */
export function interactionOf(method: string, segments: string[], bundleType?: string): Interaction {
  const [type, id, hist, vid] = segments;
  if (segments.some((s) => s.startsWith('$'))) return 'operation';
  if (method === 'GET' || method === 'HEAD') {
    if (!type) return 'search-system';
    if (type === '_history') return 'history-system';
    if (id === '_history') return 'history-type';
    if (!id) return 'search-type';
    if (hist === '_history') return vid ? 'vread' : 'history-instance';
    return 'read';
  }
  if (method === 'POST') {
    if (!type) return bundleType === 'transaction' ? 'transaction' : 'batch';
    if (id === '_search') return 'search-type';
    return 'create';
  }
  if (method === 'PUT') return 'update';
  if (method === 'PATCH') return 'patch';
  return 'delete';
}

/**
 * Interactions that change nothing. Without an audit journal their events wait for those of other
 * requests under way (group commit); a write's is written at once (server/audit/audit-log.ts).
 */
const READ_ONLY = new Set<Interaction>([
  'read',
  'vread',
  'history-instance',
  'history-type',
  'history-system',
  'search-type',
  'search-system',
]);

function auditedResources(segments: string[], location: string | undefined): string[] {
  const [type, id] = segments;
  if (type && id && !id.startsWith('_') && !id.startsWith('$')) {
    return [`${type}/${id}`];
  }
  const m = location ? /\/fhir\/R4\/([A-Z][A-Za-z]+)\/([^/]+)/.exec(location) : null;
  return m ? [`${m[1]}/${m[2]}`] : [];
}

/**
 * Authentication, rate limits, security headers, CORS and the audit trail, as fastify hooks in
 * front of every route.
 */
export async function registerSecurity(
  fastify: FastifyInstance,
  deps: SecurityDeps,
  options: { baseUrl: string; corsOrigins: string[] },
): Promise<void> {
  const { auth, limits, audit } = deps;
  fastify.decorateRequest('auth', undefined);
  fastify.decorateRequest('auditExpected', false);
  // Exactly once per audited request: when its event is recorded, or when it ends without one.
  const settleAudit = (request: FastifyRequest): void => {
    if (request.auditExpected) {
      request.auditExpected = false;
      audit.eventSettled();
    }
  };

  registerSecurityHeaders(fastify, {
    // The API answers JSON; the clinician app (served later at /) sets its own policy.
    contentSecurityPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  const allowed = new Set([new URL(options.baseUrl).origin, ...options.corsOrigins]);
  await fastify.register(cors, {
    origin: (origin, cb) => cb(null, !origin || allowed.has(origin)),
    credentials: true,
    exposedHeaders: ['ETag', 'Location', 'Content-Location', 'Last-Modified', 'Retry-After'],
  });

  // Each step answers at once when what it needs is held in memory (the limits' reservations, a
  // token verified and a login checked in the last seconds), which is nearly every request: a
  // request then passes without a promise round per step. Otherwise the step waits, then goes on.
  const limited = (reply: FastifyReply, limit: LimitResult): void => {
    if (!limit.ok) {
      reply.header('Retry-After', String(limit.retryAfterSeconds));
      throw new OperationOutcomeError(tooManyRequests);
    }
  };
  const clientLimit = (request: FastifyRequest, reply: FastifyReply, ctx: AuthContext): Promise<void> | undefined => {
    request.auth = ctx;
    const key = ctx.clientId ?? ctx.membership.id;
    const now = limits.clientNow(key);
    if (now) {
      limited(reply, now);
      return undefined;
    }
    return limits.client(key).then((limit) => limited(reply, limit));
  };
  const authenticated = (request: FastifyRequest, reply: FastifyReply, path: string): Promise<void> | undefined => {
    // The app's own files (and its client-side routes) are public; its data is not.
    if (isPublic(path) || isAppPath(path) || request.method === 'OPTIONS') {
      return undefined;
    }
    const cached = auth.cachedContext(request.headers.authorization);
    if (cached) {
      return clientLimit(request, reply, cached);
    }
    return auth.authenticate(request.headers.authorization).then(
      (ctx) => clientLimit(request, reply, ctx),
      (err) => {
        reply.header('WWW-Authenticate', 'Bearer realm="EmergiSphere", error="invalid_token"');
        throw err;
      },
    );
  };
  const admit = (request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
    const path = request.url.split('?')[0];
    // First, so that a request refused below (its error answer is audited too) is counted.
    if (isAudited(request.method, path)) {
      request.auditExpected = true;
      audit.expectEvent();
    }
    const now = limits.requestNow(request.ip);
    if (now) {
      limited(reply, now);
      return authenticated(request, reply, path);
    }
    return limits.request(request.ip).then((limit) => {
      limited(reply, limit);
      return authenticated(request, reply, path);
    });
  };
  fastify.addHook('onRequest', (request, reply, done) => {
    let waiting: Promise<void> | undefined;
    try {
      waiting = admit(request, reply);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (waiting) {
      waiting.then(() => done(), done);
    } else {
      done();
    }
  });

  // The answer leaves only once its audit record is safe from a crash of this process: journaled
  // (the default), or committed when there is no journal (AuditLog).
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const path = request.url.split('?')[0];
    if (!isAudited(request.method, path)) {
      done(null, payload);
      return;
    }
    const failed = (err: unknown): void => {
      settleAudit(request);
      request.log.error({ err }, 'audit record failed');
      done(null, payload);
    };
    let recorded: Promise<void>;
    try {
      const segments = path.slice('/fhir/R4'.length).split('/').filter(Boolean).map(decodeURIComponentSafe);
      const bundleType = (request.body as { type?: string } | undefined)?.type;
      const interaction = interactionOf(request.method, segments, bundleType);
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : undefined;
      const facts: RestAuditFacts = {
        interaction,
        actor: { who: request.auth?.profile, clientId: request.auth?.clientId, ip: request.ip },
        status: reply.statusCode,
        what: auditedResources(segments, reply.getHeader('location') as string | undefined),
        query: interaction.startsWith('search') || interaction === 'operation' ? `${segments.join('/')}?${query ?? ''}` : undefined,
        recorded: new Date().toISOString(),
      };
      recorded = audit.recordRest(facts, { prompt: !READ_ONLY.has(interaction) });
    } catch (err) {
      failed(err);
      return;
    }
    // After the event is queued, so a batch that was waiting for it takes it along.
    settleAudit(request);
    recorded.then(() => done(null, payload), failed);
  });
  fastify.addHook('onRequestAbort', async (request) => settleAudit(request));
}

function decodeURIComponentSafe(s: string): string {
  if (!s.includes('%')) {
    return s;
  }
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

import type { AccessPolicy, Practitioner, ProjectMembership, User } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import { loginAuditEvent } from '../audit/events.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import type { CompiledPolicy } from './access-policy.ts';
import type { AuthContext } from './context.ts';
import type { KeyStore } from './keys.ts';
import type { RateLimits } from './rate-limit.ts';
import { type AuthService, OAuthError } from './service.ts';

export interface AuthRouteDeps {
  baseUrl: string;
  auth: AuthService;
  keys: KeyStore;
  limits: RateLimits;
  audit: AuditLog;
  systemRepo: () => PostgresRepository;
  /** Resolves the caller of a request (401 outcome when there is none). */
  requireAuth(request: FastifyRequest): Promise<AuthContext>;
}

function sendOAuthError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof OAuthError) {
    reply.header('Cache-Control', 'no-store');
    if (err.status === 401) {
      reply.header('WWW-Authenticate', 'Basic realm="token"');
    }
    return reply.code(err.status).send({ error: err.error, error_description: err.message });
  }
  throw err;
}

/** client_secret_basic (RFC 6749 §2.3.1) or client_secret_post credentials. */
function clientCredentialsOf(request: FastifyRequest, body: Record<string, string | undefined>): { id?: string; secret?: string } {
  const header = request.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
    }
  }
  return { id: body.client_id, secret: body.client_secret };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The merged AccessPolicy of a caller, in Medplum's auth/me shape. */
function policyResource(policy: CompiledPolicy): AccessPolicy | undefined {
  if (!policy.rules) {
    return undefined;
  }
  return {
    resourceType: 'AccessPolicy',
    resource: policy.rules.map((r) => ({
      resourceType: r.resourceType,
      ...(r.readonly ? { readonly: true } : {}),
      ...(r.hiddenFields.length ? { hiddenFields: r.hiddenFields } : {}),
      ...(r.readonlyFields.length ? { readonlyFields: r.readonlyFields } : {}),
    })) as AccessPolicy['resource'],
  };
}

/** Medplum-compatible sign-in endpoints: auth/login, oauth2/token, auth/me, logout, discovery. */
export function registerAuthRoutes(fastify: FastifyInstance, deps: AuthRouteDeps): void {
  const { baseUrl, auth, keys, limits, audit } = deps;

  fastify.post('/auth/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const email = str(body.email);
    const password = str(body.password);
    if (!email || !password) {
      return sendOutcome(reply, outcome('invalid', 'email and password are required'), 400);
    }
    const allowed = await limits.loginAllowed(email, request.ip);
    if (!allowed.ok) {
      reply.header('Retry-After', String(allowed.retryAfterSeconds));
      await audit.record(loginAuditEvent({ email, actor: { ip: request.ip }, success: false, reason: 'throttled' }));
      return sendOutcome(reply, outcome('throttled', 'Too many failed sign-in attempts; try again later'), 429);
    }
    const user = await auth.checkPassword(email, password);
    const membership = user ? await auth.membershipForUser(`User/${user.id}`) : undefined;
    if (!user || !membership || membership.active === false) {
      await limits.loginFailed(email, request.ip);
      await audit.record(loginAuditEvent({ email, actor: { ip: request.ip }, success: false, reason: 'invalid credentials' }));
      // One answer for unknown email and wrong password, so accounts cannot be enumerated.
      return sendOutcome(reply, outcome('invalid', 'Email or password is invalid'), 400);
    }
    await limits.loginSucceeded(email);
    const result = await auth.createCodeLogin(membership, {
      clientId: str(body.clientId),
      codeChallenge: str(body.codeChallenge),
      codeChallengeMethod: str(body.codeChallengeMethod),
      scope: str(body.scope),
      nonce: str(body.nonce),
      remoteAddress: request.ip,
      userAgent: request.headers['user-agent'],
    });
    await audit.record(
      loginAuditEvent({ email, actor: { ip: request.ip, who: membership.profile, clientId: str(body.clientId) }, success: true }),
    );
    return reply.send(result);
  });

  // Medplum's sign-in form asks first whether the email's domain signs in elsewhere (SSO);
  // every account here signs in with its password, so the answer names no external provider.
  fastify.post('/auth/method', async (request, reply) => {
    const email = str(((request.body ?? {}) as Record<string, unknown>).email);
    if (!email) {
      return sendOutcome(reply, outcome('invalid', 'email is required'), 400);
    }
    return reply.send({ domain: email.split('@')[1] ?? '' });
  });

  fastify.post('/oauth2/token', async (request, reply) => {
    if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return reply
        .code(400)
        .send({ error: 'invalid_request', error_description: 'Content-Type must be application/x-www-form-urlencoded' });
    }
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    try {
      switch (body.grant_type) {
        case 'client_credentials': {
          const { id, secret } = clientCredentialsOf(request, body);
          if (!id || !secret) {
            throw new OAuthError('invalid_request', 'Missing client_id or client_secret');
          }
          const allowed = await limits.loginAllowed(`client:${id}`, request.ip);
          if (!allowed.ok) {
            reply.header('Retry-After', String(allowed.retryAfterSeconds));
            throw new OAuthError('slow_down', 'Too many failed attempts; try again later', 429);
          }
          try {
            return reply.header('Cache-Control', 'no-store').send(
              await auth.clientCredentials(id, secret, body.scope, {
                remoteAddress: request.ip,
                userAgent: request.headers['user-agent'],
              }),
            );
          } catch (err) {
            await limits.loginFailed(`client:${id}`, request.ip);
            await audit.record(
              loginAuditEvent({
                email: `client:${id}`,
                actor: { ip: request.ip, clientId: id },
                success: false,
                reason: 'invalid client credentials',
              }),
            );
            throw err;
          }
        }
        case 'authorization_code': {
          if (!body.code) {
            throw new OAuthError('invalid_request', 'Missing code');
          }
          const { id } = clientCredentialsOf(request, body);
          return reply.header('Cache-Control', 'no-store').send(await auth.exchangeCode(body.code, body.code_verifier, id));
        }
        case 'refresh_token': {
          if (!body.refresh_token) {
            throw new OAuthError('invalid_request', 'Missing refresh_token');
          }
          const { id } = clientCredentialsOf(request, body);
          return reply.header('Cache-Control', 'no-store').send(await auth.refresh(body.refresh_token, id));
        }
        default:
          throw new OAuthError('unsupported_grant_type', `Unsupported grant_type "${body.grant_type ?? ''}"`);
      }
    } catch (err) {
      return sendOAuthError(reply, err);
    }
  });

  const logout = async (request: FastifyRequest, reply: FastifyReply) => {
    const ctx = await deps.requireAuth(request);
    await auth.revoke(ctx.loginId);
    return reply.send({ ok: true });
  };
  fastify.post('/oauth2/logout', logout);
  fastify.get('/oauth2/logout', logout);

  // RFC 7009: revoking either token of a login revokes the login. Unknown tokens are not an error.
  fastify.post('/oauth2/revoke', async (request, reply) => {
    const token = str((request.body as Record<string, unknown> | undefined)?.token);
    if (token) {
      try {
        const claims = await keys.verify(token);
        if (typeof claims.login_id === 'string') {
          await auth.revoke(claims.login_id);
        }
      } catch {
        // Invalid tokens need no revocation.
      }
    }
    return reply.send({});
  });

  fastify.get('/auth/me', async (request, reply) => {
    const ctx = await deps.requireAuth(request);
    const repo = deps.systemRepo();
    const profile = await repo.readReference<Practitioner>(ctx.profile as { reference: string });
    const userRef = ctx.membership.user?.reference ?? '';
    let user: User | undefined;
    if (userRef.startsWith('User/')) {
      user = await repo.readResource<User>('User', userRef.slice(5)).catch(() => undefined);
    }
    const membership: ProjectMembership = {
      resourceType: 'ProjectMembership',
      id: ctx.membership.id,
      project: ctx.membership.project,
      user: ctx.membership.user,
      profile: ctx.membership.profile,
      admin: ctx.membership.admin,
    };
    return reply.send({
      user: user ? { resourceType: 'User', id: user.id, email: user.email } : undefined,
      project: {
        resourceType: 'Project',
        id: ctx.project.id,
        name: ctx.project.name,
        description: ctx.project.description,
        // This server always offers the websocket subscription channel; Medplum's client (and
        // @medplum/react's useSubscription) only subscribes when the project lists the feature.
        features: [...new Set([...(ctx.project.features ?? []), 'websocket-subscriptions' as const])],
      },
      membership,
      profile,
      config: {
        resourceType: 'UserConfiguration',
        menu: [
          {
            title: 'Emergency',
            link: [
              { name: 'Tracking board', target: '/' },
              { name: 'Encounters', target: '/Encounter' },
            ],
          },
          ...(ctx.membership.admin
            ? [
                {
                  title: 'Admin',
                  link: [
                    { name: 'Project', target: '/admin/project' },
                    { name: 'AccessPolicy', target: '/AccessPolicy' },
                  ],
                },
              ]
            : []),
        ],
      },
      accessPolicy: policyResource(ctx.policy),
      security: { mfaEnrolled: false, sessions: [] },
    });
  });

  fastify.get('/oauth2/userinfo', async (request, reply) => {
    const ctx = await deps.requireAuth(request);
    return reply.send({ sub: ctx.subject.split('/')[1], fhirUser: ctx.profile.reference, profile: ctx.profile.reference });
  });

  fastify.get('/.well-known/jwks.json', async (_request, reply) => reply.send(keys.jwks()));

  const discovery = {
    issuer: keys.issuer,
    token_endpoint: `${baseUrl}oauth2/token`,
    userinfo_endpoint: `${baseUrl}oauth2/userinfo`,
    revocation_endpoint: `${baseUrl}oauth2/revoke`,
    end_session_endpoint: `${baseUrl}oauth2/logout`,
    jwks_uri: `${baseUrl}.well-known/jwks.json`,
    grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256', 'plain'],
    scopes_supported: ['openid', 'profile', 'fhirUser', 'offline_access', 'offline', 'system/*.*', 'user/*.*'],
  };
  fastify.get('/.well-known/openid-configuration', async (_request, reply) => reply.send(discovery));
  fastify.get('/.well-known/smart-configuration', async (_request, reply) =>
    reply.send({
      ...discovery,
      capabilities: [
        'client-confidential-symmetric',
        'context-standalone-patient',
        'permission-user',
        'permission-patient',
        'sso-openid-connect',
      ],
    }),
  );
}

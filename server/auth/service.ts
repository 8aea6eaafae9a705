import { randomUUID } from 'node:crypto';
import { badRequest, OperationOutcomeError, unauthorized as unauthorizedOutcome, type WithId } from '@medplum/core';
import type { AccessPolicy, ClientApplication, OperationOutcome, Project, ProjectMembership, Reference, User } from '@medplum/fhirtypes';
import type pg from 'pg';
import { familyStanding } from '../family/consent.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { compilePolicies, type PolicyVariables, variablesFrom } from './access-policy.ts';
import type { AuthContext } from './context.ts';
import type { KeyStore } from './keys.ts';
import { generateSecret, safeEqual, sha256, verifyPassword, verifyPkce } from './secrets.ts';

export const ACCESS_TOKEN_SECONDS = 3600;
export const REFRESH_TOKEN_SECONDS = 14 * 24 * 3600;
const CODE_SECONDS = 60;
const CONTEXT_CACHE_MS = 5_000;
const MAX_VERIFIED_TOKENS = 10_000;

export interface TokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  id_token: string;
  access_token: string;
  refresh_token?: string;
  project: Reference;
  profile: Reference;
}

interface LoginRow {
  id: string;
  membership_id: string;
  client_id: string | null;
  auth_method: string;
  scope: string;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  code_expires_at: Date | null;
  granted: boolean;
  refresh_secret_sha256: string | null;
  revoked: boolean;
}

/** An OAuth error in RFC 6749 §5.2 form, answered with `status`. */
export class OAuthError extends Error {
  readonly error: string;
  readonly status: number;
  constructor(error: string, description: string, status = 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}

export function unauthorized(text: string): OperationOutcomeError {
  // The id is what maps an outcome to its HTTP status (401) in @medplum/core.
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    id: unauthorizedOutcome.id,
    issue: [{ severity: 'error', code: 'login', details: { text } }],
  };
  return new OperationOutcomeError(outcome);
}

interface TokenClaims {
  login_id: string;
  client_id?: unknown;
}

interface VerifiedToken {
  token: string;
  claims: TokenClaims;
  exp: number;
}

function bearerToken(authorization: string): string {
  return authorization.slice(7).trim();
}

/**
 * The last 32 characters of a JWT: part of its signature (192 bits), so distinct tokens differ in
 * it unless they are forged to collide, and a collision only costs a full verification.
 */
function cacheKey(token: string): string {
  return token.slice(-32);
}

export interface AuthServiceDeps {
  pool: pg.Pool;
  keys: KeyStore;
  /** A repository that bypasses access policies, for the server's own lookups. */
  systemRepo: () => PostgresRepository;
}

/**
 * Sign-in, tokens and the resolution of a token into an AuthContext. Users, memberships,
 * clients and policies are FHIR resources; secrets are in internal tables (0002_auth.sql).
 */
export class AuthService {
  private readonly deps: AuthServiceDeps;
  private readonly cache = new Map<string, { ctx: AuthContext; expires: number }>();
  /**
   * Tokens already verified, keyed by the tail of their signature: a Map hashes its string key on
   * every lookup, and a header's string is new on every request, so keying by the whole token
   * (~800 characters) cost more than the rest of the lookup. The entry keeps the whole token,
   * which must be equal for a hit.
   */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(deps: AuthServiceDeps) {
    this.deps = deps;
  }

  // --- sign-in ----------------------------------------------------------------------------

  /** Checks an email and password; undefined when they do not match (same answer either way). */
  async checkPassword(email: string, password: string): Promise<WithId<User> | undefined> {
    const { rows } = await this.deps.pool.query<{ user_id: string; password_hash: string }>(
      'SELECT user_id, password_hash FROM user_credential WHERE email = $1',
      [email.trim().toLowerCase()],
    );
    // Verify against a dummy hash when the user does not exist, so timing does not reveal it.
    const hash = rows[0]?.password_hash ?? DUMMY_HASH;
    const ok = await verifyPassword(hash, password);
    if (!ok || !rows[0]) {
      return undefined;
    }
    return this.deps.systemRepo().readResource<User>('User', rows[0].user_id);
  }

  async membershipForUser(userRef: string): Promise<WithId<ProjectMembership> | undefined> {
    const bundle = await this.deps.systemRepo().search<ProjectMembership>({
      resourceType: 'ProjectMembership',
      filters: [{ code: 'user', operator: 'eq', value: userRef }],
      count: 1,
    });
    return bundle.entry?.[0]?.resource;
  }

  /** Starts a login (after a password check): returns the one-time authorization code. */
  async createCodeLogin(
    membership: WithId<ProjectMembership>,
    options: {
      clientId?: string;
      codeChallenge?: string;
      codeChallengeMethod?: string;
      scope?: string;
      nonce?: string;
      remoteAddress?: string;
      userAgent?: string;
    },
  ): Promise<{ login: string; code: string }> {
    if (options.codeChallengeMethod && !['S256', 'plain'].includes(options.codeChallengeMethod)) {
      throw new OperationOutcomeError(badRequest('codeChallengeMethod must be S256 or plain', 'codeChallengeMethod'));
    }
    const id = randomUUID();
    const code = generateSecret(16);
    await this.deps.pool.query(
      `INSERT INTO auth_login (id, membership_id, client_id, auth_method, scope, nonce, code_sha256, code_challenge,
         code_challenge_method, code_expires_at, remote_address, user_agent)
       VALUES ($1, $2, $3, 'password', $4, $5, $6, $7, $8, now() + make_interval(secs => $9), $10, $11)`,
      [
        id,
        membership.id,
        options.clientId ?? null,
        options.scope || 'openid offline',
        options.nonce ?? null,
        sha256(code),
        options.codeChallenge ?? null,
        options.codeChallenge ? (options.codeChallengeMethod ?? 'plain') : null,
        CODE_SECONDS,
        options.remoteAddress ?? null,
        options.userAgent ?? null,
      ],
    );
    return { login: id, code };
  }

  /** `authorization_code` grant: one use only; PKCE checked when a challenge was given. */
  async exchangeCode(code: string, codeVerifier: string | undefined, clientId: string | undefined): Promise<TokenResponse> {
    const codeHash = sha256(code);
    // "AND NOT granted" makes the grant atomic: of two concurrent exchanges only one gets the row.
    const { rows } = await this.deps.pool.query<LoginRow>(
      'UPDATE auth_login SET granted = true, updated_at = now() WHERE code_sha256 = $1 AND NOT granted RETURNING *',
      [codeHash],
    );
    const login = rows[0];
    if (!login) {
      const { rows: used } = await this.deps.pool.query<{ id: string }>('SELECT id FROM auth_login WHERE code_sha256 = $1', [codeHash]);
      if (used[0]) {
        // A replayed code means it leaked: revoke everything issued from it (RFC 6749 §4.1.2).
        await this.revoke(used[0].id);
        throw new OAuthError('invalid_grant', 'Code already used');
      }
      throw new OAuthError('invalid_grant', 'Invalid code');
    }
    if (login.revoked || !login.code_expires_at || login.code_expires_at.getTime() < Date.now()) {
      throw new OAuthError('invalid_grant', 'Code expired or revoked');
    }
    if (clientId && login.client_id && clientId !== login.client_id) {
      throw new OAuthError('invalid_grant', 'Code was issued to another client');
    }
    if (login.code_challenge) {
      if (!codeVerifier || !verifyPkce(login.code_challenge, login.code_challenge_method, codeVerifier)) {
        throw new OAuthError('invalid_grant', 'Invalid code verifier');
      }
    }
    return this.issueTokens(login, true);
  }

  /** `client_credentials` grant. */
  async clientCredentials(clientId: string, clientSecret: string, scope: string | undefined, meta: RequestMeta): Promise<TokenResponse> {
    const { rows } = await this.deps.pool.query<{ secret_sha256: string }>(
      'SELECT secret_sha256 FROM client_credential WHERE client_id = $1',
      [clientId],
    );
    if (!rows[0] || !safeEqual(rows[0].secret_sha256, sha256(clientSecret))) {
      throw new OAuthError('invalid_client', 'Invalid client credentials', 401);
    }
    const client = await this.deps
      .systemRepo()
      .readResource<ClientApplication>('ClientApplication', clientId)
      .catch(() => undefined);
    if (!client || (client.status && client.status !== 'active')) {
      throw new OAuthError('invalid_client', 'Invalid client credentials', 401);
    }
    const membership = await this.membershipForUser(`ClientApplication/${clientId}`);
    if (!membership) {
      throw new OAuthError('invalid_client', 'Client has no project membership', 401);
    }
    const id = randomUUID();
    const { rows: logins } = await this.deps.pool.query<LoginRow>(
      `INSERT INTO auth_login (id, membership_id, client_id, auth_method, scope, granted, remote_address, user_agent)
       VALUES ($1, $2, $3, 'client', $4, true, $5, $6) RETURNING *`,
      [id, membership.id, clientId, scope || 'openid', meta.remoteAddress ?? null, meta.userAgent ?? null],
    );
    return this.issueTokens(logins[0], false);
  }

  /**
   * An access token for a membership without a credential check: the server acting as one of
   * its own members (a bot runs with its own membership and policy). Never exposed over HTTP.
   */
  async tokenForMembership(membershipId: string, scope = 'openid'): Promise<string> {
    const { rows } = await this.deps.pool.query<LoginRow>(
      `INSERT INTO auth_login (id, membership_id, auth_method, scope, granted) VALUES ($1, $2, 'execute', $3, true) RETURNING *`,
      [randomUUID(), membershipId, scope],
    );
    return (await this.issueTokens(rows[0], false)).access_token;
  }

  /** `refresh_token` grant with rotation: each refresh token works once. */
  async refresh(refreshToken: string, clientId: string | undefined): Promise<TokenResponse> {
    let claims: { login_id?: unknown; refresh_secret?: unknown };
    try {
      claims = (await this.deps.keys.verify(refreshToken)) as typeof claims;
    } catch {
      throw new OAuthError('invalid_grant', 'Invalid refresh token');
    }
    if (typeof claims.login_id !== 'string' || typeof claims.refresh_secret !== 'string') {
      throw new OAuthError('invalid_grant', 'Invalid refresh token');
    }
    const { rows } = await this.deps.pool.query<LoginRow>('SELECT * FROM auth_login WHERE id = $1', [claims.login_id]);
    const login = rows[0];
    if (!login || login.revoked || !login.refresh_secret_sha256) {
      throw new OAuthError('invalid_grant', 'Refresh token revoked');
    }
    if (!safeEqual(login.refresh_secret_sha256, sha256(claims.refresh_secret))) {
      throw new OAuthError('invalid_grant', 'Refresh token already used');
    }
    if (clientId && login.client_id && clientId !== login.client_id) {
      throw new OAuthError('invalid_grant', 'Refresh token was issued to another client');
    }
    return this.issueTokens(login, true);
  }

  /** Revokes a login: its refresh token stops working and its access tokens are refused. */
  async revoke(loginId: string): Promise<void> {
    await this.deps.pool.query('UPDATE auth_login SET revoked = true, refresh_secret_sha256 = NULL, updated_at = now() WHERE id = $1', [
      loginId,
    ]);
    this.cache.delete(loginId);
  }

  private async issueTokens(login: LoginRow, withRefresh: boolean): Promise<TokenResponse> {
    const ctx = await this.loadContext(login);
    const claims = {
      login_id: login.id,
      sub: ctx.subject.split('/')[1],
      username: ctx.subject.split('/')[1],
      profile: ctx.profile.reference,
      scope: login.scope,
      ...(login.client_id ? { client_id: login.client_id, cid: login.client_id } : {}),
    };
    const audience = login.client_id ?? undefined;
    const accessToken = await this.deps.keys.sign(claims, ACCESS_TOKEN_SECONDS, audience);
    const idToken = await this.deps.keys.sign(
      { login_id: login.id, sub: claims.sub, fhirUser: ctx.profile.reference, ...(login.nonce ? { nonce: login.nonce } : {}) },
      ACCESS_TOKEN_SECONDS,
      audience,
    );
    let refreshToken: string | undefined;
    if (withRefresh) {
      const secret = generateSecret(32);
      await this.deps.pool.query('UPDATE auth_login SET refresh_secret_sha256 = $2, updated_at = now() WHERE id = $1', [
        login.id,
        sha256(secret),
      ]);
      refreshToken = await this.deps.keys.sign({ login_id: login.id, refresh_secret: secret }, REFRESH_TOKEN_SECONDS, audience);
    }
    return {
      token_type: 'Bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      scope: login.scope,
      id_token: idToken,
      access_token: accessToken,
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      project: { reference: `Project/${ctx.project.id}` },
      profile: { reference: ctx.profile.reference, display: ctx.profile.display },
    };
  }

  // --- per request ------------------------------------------------------------------------

  /**
   * The context of an `Authorization` header whose token was verified and whose login was checked
   * within the last few seconds, without waiting for anything; undefined when `authenticate` must
   * decide. Most requests take this path: answering them synchronously spares the request a
   * promise round of its own.
   */
  cachedContext(authorization: string | undefined): AuthContext | undefined {
    if (!authorization?.startsWith('Bearer ')) {
      return undefined;
    }
    const claims = this.knownClaims(bearerToken(authorization));
    const cached = claims && this.cache.get(claims.login_id);
    return cached && cached.expires > Date.now() ? cached.ctx : undefined;
  }

  /** Resolves `Authorization: Bearer <jwt>` into an AuthContext; throws a 401 outcome otherwise. */
  async authenticate(authorization: string | undefined): Promise<AuthContext> {
    if (!authorization?.startsWith('Bearer ')) {
      throw unauthorized('Missing bearer token');
    }
    const token = bearerToken(authorization);
    const claims = this.knownClaims(token) ?? (await this.verifiedClaims(token));
    const cached = this.cache.get(claims.login_id);
    if (cached && cached.expires > Date.now()) {
      return cached.ctx;
    }
    const login = await this.liveLogin(claims.login_id);
    if (!login) {
      throw unauthorized('Login revoked');
    }
    if ((login.client_id ?? undefined) !== claims.client_id) {
      throw unauthorized('Token does not match its login');
    }
    const ctx = await this.loadContext(login).catch(() => {
      throw unauthorized('Membership no longer valid');
    });
    return this.remember(ctx);
  }

  /** The login row, when it is granted and not revoked. */
  private async liveLogin(loginId: string): Promise<LoginRow | undefined> {
    const { rows } = await this.deps.pool.query<LoginRow>('SELECT * FROM auth_login WHERE id = $1', [loginId]);
    const login = rows[0];
    return login && !login.revoked && login.granted ? login : undefined;
  }

  private remember(ctx: AuthContext): AuthContext {
    this.cache.set(ctx.loginId, { ctx, expires: Date.now() + CONTEXT_CACHE_MS });
    if (this.cache.size > 10_000) {
      this.cache.clear();
    }
    return ctx;
  }

  /**
   * The context of a login that is still valid (not revoked, membership active), e.g. to check what
   * a websocket subscriber may see when a notification is pushed; undefined otherwise.
   */
  async contextForLogin(loginId: string): Promise<AuthContext | undefined> {
    const cached = this.cache.get(loginId);
    if (cached && cached.expires > Date.now()) {
      return cached.ctx;
    }
    const login = await this.liveLogin(loginId);
    const ctx = login && (await this.loadContext(login).catch(() => undefined));
    return ctx ? this.remember(ctx) : undefined;
  }

  /**
   * Verifies an access token's signature and claims. An RS256 verification costs more CPU than
   * the rest of a read, so a token already verified is remembered until it expires; revocation is
   * still checked on its login (see authenticate).
   */
  private async verifiedClaims(token: string): Promise<TokenClaims> {
    let claims: { login_id?: unknown; client_id?: unknown; aud?: unknown; exp?: number };
    try {
      claims = (await this.deps.keys.verify(token)) as typeof claims;
    } catch {
      throw unauthorized('Invalid or expired token');
    }
    if (typeof claims.login_id !== 'string' || 'refresh_secret' in claims) {
      throw unauthorized('Invalid token');
    }
    // A token is for the client it names: its audience must be that client.
    const audiences = ([] as unknown[]).concat(claims.aud ?? []);
    if (claims.client_id !== undefined ? !audiences.includes(claims.client_id) : audiences.length > 0) {
      throw unauthorized('Token not issued for this audience');
    }
    const result = { login_id: claims.login_id, client_id: claims.client_id };
    if (this.verified.size >= MAX_VERIFIED_TOKENS) {
      this.verified.clear();
    }
    this.verified.set(cacheKey(token), { token, claims: result, exp: claims.exp ?? 0 });
    return result;
  }

  /** The claims of a token verified earlier and not expired since. */
  private knownClaims(token: string): TokenClaims | undefined {
    const known = this.verified.get(cacheKey(token));
    return known && known.token === token && known.exp > Date.now() / 1000 ? known.claims : undefined;
  }

  /** Drops cached contexts, e.g. after a membership or policy change. */
  invalidate(): void {
    this.cache.clear();
  }

  private async loadContext(login: LoginRow): Promise<AuthContext> {
    const repo = this.deps.systemRepo();
    const membership = await repo.readResource<ProjectMembership>('ProjectMembership', login.membership_id);
    if (membership.active === false) {
      throw unauthorized('Membership inactive');
    }
    const project = await repo.readReference<Project>(membership.project as Reference<Project>);
    const profileRef = membership.profile?.reference as string;
    // A family member acts for RelatedPerson.patient, and only while the patient's consent is on
    // file: without it every grant is dropped, so revoking the Consent cuts reads, searches and
    // websocket notifications alike (the context cache is cleared on every Consent write).
    const family = profileRef?.startsWith('RelatedPerson/')
      ? await familyStanding(repo, profileRef.slice('RelatedPerson/'.length))
      : undefined;
    const familyCut = profileRef?.startsWith('RelatedPerson/') && !family?.consented;
    const policies: { policy: AccessPolicy; vars: PolicyVariables }[] = [];
    if (membership.accessPolicy?.reference && !familyCut) {
      policies.push({
        policy: await repo.readReference<AccessPolicy>(membership.accessPolicy as Reference<AccessPolicy>),
        vars: variablesFrom(profileRef, [], family?.patient),
      });
    }
    for (const access of familyCut ? [] : (membership.access ?? [])) {
      if (access.policy?.reference) {
        policies.push({
          policy: await repo.readReference<AccessPolicy>(access.policy as Reference<AccessPolicy>),
          vars: variablesFrom(profileRef, access.parameter, family?.patient),
        });
      }
    }
    return {
      loginId: login.id,
      clientId: login.client_id ?? undefined,
      membership,
      project,
      profile: { reference: profileRef, display: membership.profile?.display },
      subject: membership.user?.reference as string,
      scope: login.scope,
      policy: familyCut ? { admin: false, rules: [] } : compilePolicies(policies, !!membership.admin),
      ...(family?.consented ? { familyOf: family.patient } : {}),
    };
  }
}

export interface RequestMeta {
  remoteAddress?: string;
  userAgent?: string;
}

// argon2id hash of a random string nobody knows; used to equalise timing for unknown emails.
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$wZYN96n+FTnk3KzhpN4DOQ$04JJK03MW2nwrhXFb/peZjcexxcg/SIPdNN++MMaB4k';

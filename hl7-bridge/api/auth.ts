import { createHash } from 'node:crypto';

export interface Caller {
  profile: string;
  admin: boolean;
}

export class AuthError extends Error {
  readonly status: 401 | 403;
  constructor(status: 401 | 403, message: string) {
    super(message);
    this.status = status;
  }
}

interface Me {
  membership?: { admin?: boolean; profile?: { reference?: string } };
  profile?: { resourceType?: string; id?: string; identifier?: { system?: string; value?: string }[] };
}

const BOT_SYSTEM = 'https://emergisphere.dev/fhir/bot';
const CACHE_MS = 60_000;
const CACHE_MAX = 1000;

export interface ApiAuthOptions {
  /** The FHIR server (its auth/me answers who a token belongs to). */
  serverUrl: string;
  /** Profiles allowed besides project admins and the HL7 bots, e.g. Practitioner/123. */
  allowedProfiles: string[];
  /** The bridge's own client (it may call itself). */
  ownProfile?: string;
}

/**
 * Bearer tokens are verified by the server that issued them: `GET auth/me` with the caller's
 * token (so a revoked login is refused within a minute). Allowed: project administrators, the HL7
 * bots (Bot profiles with identifier https://emergisphere.dev/fhir/bot|hl7-*), the bridge's own
 * client, and the profiles listed in channels.json `api.allowedProfiles`.
 */
export class ApiAuth {
  private readonly options: ApiAuthOptions;
  private readonly cache = new Map<string, { caller?: Caller; error?: AuthError; expires: number }>();

  constructor(options: ApiAuthOptions) {
    this.options = options;
  }

  async verify(authorization: string | undefined): Promise<Caller> {
    if (!authorization?.startsWith('Bearer ')) throw new AuthError(401, 'A bearer token is required');
    const key = createHash('sha256').update(authorization).digest('hex');
    const cached = this.cache.get(key);
    if (cached && cached.expires > Date.now()) {
      if (cached.error) throw cached.error;
      return cached.caller as Caller;
    }
    let outcome: { caller?: Caller; error?: AuthError };
    try {
      outcome = { caller: await this.ask(authorization) };
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      outcome = { error: err };
    }
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { ...outcome, expires: Date.now() + CACHE_MS });
    if (outcome.error) throw outcome.error;
    return outcome.caller as Caller;
  }

  private async ask(authorization: string): Promise<Caller> {
    const res = await fetch(new URL('auth/me', this.options.serverUrl), { headers: { authorization, accept: 'application/json' } });
    if (res.status === 401 || res.status === 403) throw new AuthError(401, 'The token is not valid');
    if (!res.ok) throw new Error(`auth/me answered ${res.status}`);
    const me = (await res.json()) as Me;
    const profile = me.membership?.profile?.reference ?? (me.profile?.resourceType ? `${me.profile.resourceType}/${me.profile.id}` : '');
    const admin = me.membership?.admin === true;
    const hl7Bot =
      me.profile?.resourceType === 'Bot' && !!me.profile.identifier?.some((i) => i.system === BOT_SYSTEM && i.value?.startsWith('hl7-'));
    if (admin || hl7Bot || profile === this.options.ownProfile || this.options.allowedProfiles.includes(profile)) {
      return { profile, admin };
    }
    throw new AuthError(403, `${profile || 'This caller'} may not use the HL7 bridge API`);
  }
}

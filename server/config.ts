import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FirstStartCredentials } from './auth/bootstrap.ts';
import type { RateLimitConfig } from './auth/rate-limit.ts';
import type { SubscriptionSettings } from './subscriptions/settings.ts';

/** Everything the server needs to run; built once at start and passed down explicitly. */
export interface ServerConfig {
  port: number;
  host: string;
  /** Public base URL, with a trailing slash (e.g. http://localhost:8103/). */
  baseUrl: string;
  /** PostgreSQL connection string; undefined means "start the embedded PostgreSQL". */
  databaseUrl?: string;
  /** Directory for the embedded PostgreSQL cluster. */
  dataDir: string;
  redisUrl?: string;
  logLevel: string;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Largest accepted JSON nesting depth. */
  maxJsonDepth: number;
  /** Size of the PostgreSQL connection pool. */
  dbPoolSize: number;
  /** Default and maximum page size for search. */
  defaultSearchCount: number;
  maxSearchCount: number;
  /** Directory of StructureDefinitions / SearchParameters loaded at start. */
  profilesDir: string;
  /**
   * Build the GraphQL schema at start instead of on the first $graphql request, which would
   * otherwise stall the whole process for seconds. Off by default: the schema holds ~0.5 GB of heap.
   */
  graphqlWarmup?: boolean;
  /** Credentials for the first start only (ADMIN_*); later starts never reset the admin. */
  firstStart: FirstStartCredentials;
  /** Directory of role AccessPolicies upserted at start. */
  rolesDir: string;
  /** The built clinician app served at `/` (nothing is served there when it has no index.html). */
  appDir: string;
  rateLimits: RateLimitConfig;
  /** Origins allowed by CORS (the app's); the server's own origin is always allowed. */
  corsOrigins: string[];
  /** Trust X-Forwarded-For from a reverse proxy for client addresses (rate limits, audit). */
  trustProxy: boolean;
  /**
   * Where audit records are journaled before a request is answered (server/audit/journal.ts), so
   * the answer need not wait for the audit INSERT; undefined (AUDIT_JOURNAL_DIR=off): every
   * audited answer waits for its event's commit instead. Servers on one machine may share it.
   */
  auditJournalDir: string | undefined;
  /**
   * How long a journaled audit record may wait for its batch (milliseconds): longer makes larger
   * batches, and AuditEvents reach other instances' searches that much later.
   */
  auditFlushMs: number;
  /** Refresh the search tables' planner statistics while the database is young (server/db/table-statistics.ts). */
  tableStatistics: boolean;
  /** Subscription worker tuning beyond the SUBSCRIPTION_* environment variables (tests shorten backoff). */
  subscriptions?: Partial<SubscriptionSettings>;
}

const DEFAULTS = {
  port: 8103,
  host: '0.0.0.0',
  dataDir: './data/postgres',
  auditJournalDir: './data/audit-journal',
  auditFlushMs: 50,
  logLevel: 'info',
  maxBodyBytes: 16 * 1024 * 1024,
  maxJsonDepth: 64,
  dbPoolSize: 16,
  defaultSearchCount: 20,
  maxSearchCount: 1000,
  profilesDir: './fhir-profiles',
  rolesDir: './server-config/roles',
  appDir: './app/dist',
  rateLimits: { perIpPerMinute: 60_000, perClientPerMinute: 60_000, loginFailuresPerEmail: 5, loginFailuresPerIp: 50 },
} as const;

type FileConfig = Partial<Omit<ServerConfig, 'baseUrl' | 'rateLimits'>> & { baseUrl?: string; rateLimits?: Partial<RateLimitConfig> };

function readConfigFile(path: string | undefined): FileConfig {
  if (!path) {
    return {};
  }
  const full = resolve(path);
  if (!existsSync(full)) {
    throw new Error(`Config file not found: ${full}`);
  }
  return JSON.parse(readFileSync(full, 'utf8')) as FileConfig;
}

export function intFromEnv(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${value}"`);
  }
  return n;
}

export function boolFromEnv(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  if (!['true', 'false', '1', '0'].includes(value)) {
    throw new Error(`${name} must be true or false, got "${value}"`);
  }
  return value === 'true' || value === '1';
}

/**
 * Builds the configuration: defaults, then the optional JSON file named by EMERGISPHERE_CONFIG
 * (or server-config/server.json when present), then environment variables, which always win.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const defaultFile = existsSync('server-config/server.json') ? 'server-config/server.json' : undefined;
  const file = readConfigFile(env.EMERGISPHERE_CONFIG ?? defaultFile);
  const port = intFromEnv(env.PORT, 'PORT') ?? file.port ?? DEFAULTS.port;
  let baseUrl = env.BASE_URL ?? file.baseUrl ?? `http://localhost:${port}/`;
  if (!baseUrl.endsWith('/')) {
    baseUrl += '/';
  }
  return {
    port,
    host: env.HOST ?? file.host ?? DEFAULTS.host,
    baseUrl,
    databaseUrl: env.DATABASE_URL || file.databaseUrl || undefined,
    dataDir: env.EMERGISPHERE_DATA_DIR ?? file.dataDir ?? DEFAULTS.dataDir,
    redisUrl: env.REDIS_URL || file.redisUrl || undefined,
    logLevel: env.LOG_LEVEL ?? file.logLevel ?? DEFAULTS.logLevel,
    maxBodyBytes: intFromEnv(env.MAX_BODY_BYTES, 'MAX_BODY_BYTES') ?? file.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    maxJsonDepth: intFromEnv(env.MAX_JSON_DEPTH, 'MAX_JSON_DEPTH') ?? file.maxJsonDepth ?? DEFAULTS.maxJsonDepth,
    dbPoolSize: intFromEnv(env.DB_POOL_SIZE, 'DB_POOL_SIZE') ?? file.dbPoolSize ?? DEFAULTS.dbPoolSize,
    defaultSearchCount: file.defaultSearchCount ?? DEFAULTS.defaultSearchCount,
    maxSearchCount: file.maxSearchCount ?? DEFAULTS.maxSearchCount,
    profilesDir: env.FHIR_PROFILES_DIR ?? file.profilesDir ?? DEFAULTS.profilesDir,
    graphqlWarmup: boolFromEnv(env.GRAPHQL_WARMUP, 'GRAPHQL_WARMUP') ?? file.graphqlWarmup ?? false,
    firstStart: {
      ADMIN_EMAIL: env.ADMIN_EMAIL || undefined,
      ADMIN_PASSWORD: env.ADMIN_PASSWORD || undefined,
      ADMIN_CLIENT_ID: env.ADMIN_CLIENT_ID || undefined,
      ADMIN_CLIENT_SECRET: env.ADMIN_CLIENT_SECRET || undefined,
    },
    rolesDir: env.ROLES_DIR ?? file.rolesDir ?? DEFAULTS.rolesDir,
    appDir: env.APP_DIR ?? file.appDir ?? DEFAULTS.appDir,
    rateLimits: {
      perIpPerMinute:
        intFromEnv(env.RATE_LIMIT_PER_IP, 'RATE_LIMIT_PER_IP') ?? file.rateLimits?.perIpPerMinute ?? DEFAULTS.rateLimits.perIpPerMinute,
      perClientPerMinute:
        intFromEnv(env.RATE_LIMIT_PER_CLIENT, 'RATE_LIMIT_PER_CLIENT') ??
        file.rateLimits?.perClientPerMinute ??
        DEFAULTS.rateLimits.perClientPerMinute,
      loginFailuresPerEmail:
        intFromEnv(env.LOGIN_FAILURES_PER_EMAIL, 'LOGIN_FAILURES_PER_EMAIL') ??
        file.rateLimits?.loginFailuresPerEmail ??
        DEFAULTS.rateLimits.loginFailuresPerEmail,
      loginFailuresPerIp:
        intFromEnv(env.LOGIN_FAILURES_PER_IP, 'LOGIN_FAILURES_PER_IP') ??
        file.rateLimits?.loginFailuresPerIp ??
        DEFAULTS.rateLimits.loginFailuresPerIp,
    },
    corsOrigins: (env.CORS_ORIGINS ?? file.corsOrigins?.join(',') ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    trustProxy: boolFromEnv(env.TRUST_PROXY, 'TRUST_PROXY') ?? file.trustProxy ?? false,
    auditJournalDir: auditJournalDirFrom(env.AUDIT_JOURNAL_DIR ?? file.auditJournalDir),
    auditFlushMs: intFromEnv(env.AUDIT_FLUSH_MS, 'AUDIT_FLUSH_MS') ?? file.auditFlushMs ?? DEFAULTS.auditFlushMs,
    tableStatistics: boolFromEnv(env.TABLE_STATISTICS, 'TABLE_STATISTICS') ?? file.tableStatistics ?? true,
  };
}

function auditJournalDirFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === '') {
    return DEFAULTS.auditJournalDir;
  }
  return value === 'off' ? undefined : value;
}

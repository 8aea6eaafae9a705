import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { AckIdentity } from './hl7v2/ack.ts';
import { normalizeCharset } from './hl7v2/charset.ts';
import { type Sender, SUPPORTED_TYPES } from './hl7v2/validate.ts';

export const DEFAULT_CHANNELS_FILE = 'server-config/hl7/channels.json';
export const DEFAULT_HL7_PORT = 2575;
export const DEFAULT_API_PORT = 8105;
/** How the bridge finds the hl7-inbound bot (the identifier deploy-bots gives it). */
export const INBOUND_BOT_IDENTIFIER = 'https://emergisphere.dev/fhir/bot|hl7-inbound';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
}

export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface InboundChannelConfig {
  name: string;
  port: number;
  host: string;
  tls?: ServerTls;
  /** commit: ACK once stored; application: ACK after the bot converted the message. */
  ackMode: 'commit' | 'application';
  allowedSenders: Sender[];
  messageTypes: string[];
  processingIds: string[];
  defaultCharset: string;
  maxConnections: number;
  maxFrameBytes: number;
  idleTimeoutSeconds: number;
  applicationAckTimeoutMs: number;
}

export interface DestinationConfig {
  name: string;
  host: string;
  port: number;
  tls?: ClientTls;
  enabled: boolean;
  messageTypes: string[];
  receivingApplication?: string;
  receivingFacility?: string;
  ackTimeoutMs: number;
  connectTimeoutMs: number;
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface ChannelsConfig {
  identity: AckIdentity;
  inbound: InboundChannelConfig[];
  destinations: DestinationConfig[];
  conversion: { workers: number; batchSize: number; leaseMs: number; botIdentifier: string };
  api: { port: number; host: string; allowedProfiles: string[] };
}

/** A configuration problem, with every error found (not just the first). */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

interface RawTls {
  cert?: string;
  key?: string;
  ca?: string;
  requestCert?: boolean;
  servername?: string;
  rejectUnauthorized?: boolean;
}

interface RawChannels {
  identity?: Partial<AckIdentity>;
  inbound?: (Partial<Omit<InboundChannelConfig, 'tls'>> & { name: string; port: number; tls?: RawTls })[];
  destinations?: (Partial<Omit<DestinationConfig, 'tls'>> & { name: string; host: string; port: number; tls?: RawTls })[];
  conversion?: { workers?: number; batchSize?: number; leaseSeconds?: number; botIdentifier?: string };
  api?: { port?: number; host?: string; allowedProfiles?: string[] };
}

const OUTBOUND_TYPES = ['ADT^A01', 'ADT^A03', 'ADT^A08', 'ORU^R01'];

function intEnv(env: Record<string, string | undefined>, name: string, problems: string[]): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 65535) {
    problems.push(`${name}="${v}" is not a port number`);
    return undefined;
  }
  return Number(v);
}

/** The JSON Schema of channels.json (editors use it through the file's "$schema"). */
export const CHANNELS_SCHEMA_FILE = fileURLToPath(new URL('../server-config/hl7/channels.schema.json', import.meta.url));

let compiled: ReturnType<Ajv['compile']> | undefined;

/** Loads `channels.json`; see parseChannels for the checks. */
export function loadChannels(file: string, env: Record<string, string | undefined> = process.env): ChannelsConfig {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError(path, ['file not found']);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${err instanceof Error ? err.message : String(err)}`]);
  }
  return parseChannels(raw, { name: path, dir: dirname(path), env });
}

/**
 * Checks a channels configuration: JSON Schema first (every violation reported with its JSON
 * path), then what a schema cannot say: unique names and ports, readable TLS files (relative to
 * `dir`), supported charsets and message types. HL7_PORT overrides the port of the channel named
 * "default", HL7_API_PORT the API's.
 */
export function parseChannels(
  input: unknown,
  options: { name?: string; dir?: string; env?: Record<string, string | undefined> } = {},
): ChannelsConfig {
  const name = options.name ?? 'channels';
  const env = options.env ?? process.env;
  compiled ??= new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(CHANNELS_SCHEMA_FILE, 'utf8')) as object);
  if (!compiled(input)) {
    throw new ConfigError(
      name,
      (compiled.errors ?? []).map(
        (e) =>
          `${e.instancePath || '/'} ${e.message}${e.params && 'allowedValues' in e.params ? `: ${(e.params.allowedValues as string[]).join(', ')}` : ''}`,
      ),
    );
  }
  const raw = input as RawChannels;
  const path = name;
  const problems: string[] = [];
  const dir = options.dir ?? process.cwd();
  const readPem = (where: string, p: string | undefined): Buffer | undefined => {
    if (!p) return undefined;
    const full = resolve(dir, p);
    if (!existsSync(full)) {
      problems.push(`${where}: ${full} does not exist`);
      return undefined;
    }
    return readFileSync(full);
  };
  const hl7Port = intEnv(env, 'HL7_PORT', problems);
  const apiPort = intEnv(env, 'HL7_API_PORT', problems);

  const inbound: InboundChannelConfig[] = (raw.inbound ?? []).map((c, i) => {
    const where = `/inbound/${i} (${c.name})`;
    const charset = c.defaultCharset ?? 'UNICODE UTF-8';
    if (!normalizeCharset(charset)) problems.push(`${where}: defaultCharset "${charset}" is not supported`);
    for (const t of c.messageTypes ?? []) {
      if (!SUPPORTED_TYPES.includes(t))
        problems.push(`${where}: message type ${t} is not supported (supported: ${SUPPORTED_TYPES.join(', ')})`);
    }
    return {
      name: c.name,
      port: c.name === 'default' && hl7Port !== undefined ? hl7Port : c.port,
      host: c.host ?? '0.0.0.0',
      tls: c.tls
        ? {
            cert: readPem(`${where} tls.cert`, c.tls.cert) as Buffer,
            key: readPem(`${where} tls.key`, c.tls.key) as Buffer,
            ca: readPem(`${where} tls.ca`, c.tls.ca),
            requestCert: c.tls.requestCert ?? false,
          }
        : undefined,
      ackMode: c.ackMode ?? 'commit',
      allowedSenders: c.allowedSenders ?? [],
      messageTypes: c.messageTypes ?? SUPPORTED_TYPES,
      processingIds: c.processingIds ?? [],
      defaultCharset: normalizeCharset(charset) ?? 'UNICODE UTF-8',
      maxConnections: c.maxConnections ?? 256,
      maxFrameBytes: c.maxFrameBytes ?? 16 * 1024 * 1024,
      idleTimeoutSeconds: c.idleTimeoutSeconds ?? 0,
      applicationAckTimeoutMs: c.applicationAckTimeoutMs ?? 10_000,
    };
  });
  const destinations: DestinationConfig[] = (raw.destinations ?? []).map((d, i) => {
    const where = `/destinations/${i} (${d.name})`;
    for (const t of d.messageTypes ?? []) {
      if (!OUTBOUND_TYPES.includes(t))
        problems.push(`${where}: outbound message type ${t} is not produced (produced: ${OUTBOUND_TYPES.join(', ')})`);
    }
    if ((d.backoffInitialMs ?? 0) > (d.backoffMaxMs ?? Number.POSITIVE_INFINITY))
      problems.push(`${where}: backoffInitialMs exceeds backoffMaxMs`);
    return {
      name: d.name,
      host: d.host,
      port: d.port,
      tls: d.tls
        ? {
            ca: readPem(`${where} tls.ca`, d.tls.ca),
            cert: readPem(`${where} tls.cert`, d.tls.cert),
            key: readPem(`${where} tls.key`, d.tls.key),
            servername: d.tls.servername,
            rejectUnauthorized: d.tls.rejectUnauthorized ?? true,
          }
        : undefined,
      enabled: d.enabled ?? true,
      messageTypes: d.messageTypes ?? OUTBOUND_TYPES,
      receivingApplication: d.receivingApplication,
      receivingFacility: d.receivingFacility,
      ackTimeoutMs: d.ackTimeoutMs ?? 10_000,
      connectTimeoutMs: d.connectTimeoutMs ?? 5_000,
      maxAttempts: d.maxAttempts ?? 10,
      backoffInitialMs: d.backoffInitialMs ?? 1_000,
      backoffMaxMs: d.backoffMaxMs ?? 300_000,
    };
  });
  const duplicates = (names: string[]) => names.filter((n, i) => names.indexOf(n) !== i);
  for (const n of duplicates(inbound.map((c) => c.name))) problems.push(`inbound channel name "${n}" is used twice`);
  for (const n of duplicates(destinations.map((d) => d.name))) problems.push(`destination name "${n}" is used twice`);
  for (const p of duplicates(inbound.filter((c) => c.port !== 0).map((c) => `${c.host}:${c.port}`)))
    problems.push(`inbound port ${p} is used twice`);
  const api = {
    port: apiPort ?? raw.api?.port ?? DEFAULT_API_PORT,
    host: raw.api?.host ?? '0.0.0.0',
    allowedProfiles: raw.api?.allowedProfiles ?? [],
  };
  if (api.port !== 0 && inbound.some((c) => c.port === api.port))
    problems.push(`the API port ${api.port} is also an inbound channel's port`);
  if (problems.length) throw new ConfigError(path, problems);
  return {
    identity: { application: raw.identity?.application ?? 'EMERGISPHERE', facility: raw.identity?.facility ?? 'ED' },
    inbound,
    destinations,
    conversion: {
      workers: raw.conversion?.workers ?? 2,
      batchSize: raw.conversion?.batchSize ?? 50,
      leaseMs: (raw.conversion?.leaseSeconds ?? 60) * 1000,
      botIdentifier: raw.conversion?.botIdentifier ?? INBOUND_BOT_IDENTIFIER,
    },
    api,
  };
}

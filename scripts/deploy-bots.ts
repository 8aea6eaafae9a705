/**
 * `npm run deploy:bots`: bundles every bot in medplum.config.json to CommonJS (as Medplum's
 * tooling does), creates or updates its Bot, deploys the code with `$deploy` and upserts the
 * bot's Subscriptions. Works against this server or any Medplum server:
 *
 *   MEDPLUM_BASE_URL=http://localhost:8103/ MEDPLUM_CLIENT_ID=... MEDPLUM_CLIENT_SECRET=... npm run deploy:bots [name...]
 *
 * Bots are found by identifier (BOT_IDENTIFIER_SYSTEM|name), then by name, then created through
 * `POST admin/projects/{project}/bot` (which also creates the bot's ProjectMembership), with the
 * AccessPolicy of the bot's `role` (an AccessPolicy tagged https://emergisphere.dev/fhir/role|role).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MedplumClient } from '@medplum/core';
import type { AccessPolicy, Bot, OperationDefinition, Subscription } from '@medplum/fhirtypes';
import { clientFromEnv } from './lib/env-client.ts';

export const BOT_IDENTIFIER_SYSTEM = 'https://emergisphere.dev/fhir/bot';
const ROLE_SYSTEM = 'https://emergisphere.dev/fhir/role';
/** Medplum's bundles end with this, so `exports.handler` exists whatever the module style. */
const FOOTER = 'Object.assign(exports, module.exports);';

export interface BotConfig {
  name: string;
  id?: string;
  source: string;
  dist: string;
  /** Our addition (ignored by the Medplum CLI): the role code of the bot's AccessPolicy. */
  role?: string;
  /** Our addition: a JSON file of Subscriptions whose endpoint is `Bot/{{botId}}`. */
  subscriptions?: string;
  /** Our addition: a JSON file of OperationDefinitions the bot implements (custom operations, `Bot/{{botId}}`). */
  operations?: string;
  /** Our addition: `Bot.cronString` (a cron expression; six fields for seconds): the bot also runs on this schedule. */
  cronString?: string;
  /** Our addition: `Bot.timeout` in seconds (the runtime's default is 10). */
  timeout?: number;
}

export interface DeployedBot {
  name: string;
  id: string;
  created: boolean;
  subscriptions: { created: number; updated: number; unchanged: number; deleted: number };
  operations: number;
}

export function readBotConfig(rootDir: string): BotConfig[] {
  const file = resolve(rootDir, 'medplum.config.json');
  if (!existsSync(file)) {
    return [];
  }
  const config = JSON.parse(readFileSync(file, 'utf8')) as { bots?: BotConfig[] };
  return (config.bots ?? []).filter((b) => existsSync(resolve(rootDir, b.source)));
}

/** Bundles a bot to one CommonJS file (platform node, target node22); returns the code. */
export async function bundleBot(rootDir: string, bot: Pick<BotConfig, 'source' | 'dist'>): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = resolve(rootDir, bot.dist);
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [resolve(rootDir, bot.source)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // The bot runtime provides @medplum/core (require allowlist), so bundles stay small.
    external: ['@medplum/core'],
    footer: { js: FOOTER },
    logLevel: 'warning',
  });
  return readFileSync(outfile, 'utf8');
}

async function findBot(medplum: MedplumClient, bot: BotConfig): Promise<Bot | undefined> {
  if (bot.id) {
    const byId = await medplum.readResource('Bot', bot.id).catch(() => undefined);
    if (byId) return byId;
  }
  const byIdentifier = await medplum.searchOne('Bot', { identifier: `${BOT_IDENTIFIER_SYSTEM}|${bot.name}` }, { cache: 'no-cache' });
  if (byIdentifier) return byIdentifier;
  // `name` search matches prefixes: insist on the exact name.
  const byName = await medplum.searchResources('Bot', { name: bot.name }, { cache: 'no-cache' });
  return byName.find((b) => b.name === bot.name);
}

async function createBot(medplum: MedplumClient, bot: BotConfig): Promise<Bot> {
  const me = (await medplum.get('auth/me', { cache: 'no-cache' })) as { project: { id: string } };
  let accessPolicy: AccessPolicy | undefined;
  if (bot.role) {
    accessPolicy = await medplum.searchOne('AccessPolicy', { _tag: `${ROLE_SYSTEM}|${bot.role}` }, { cache: 'no-cache' });
    if (!accessPolicy) {
      throw new Error(`Bot ${bot.name}: no AccessPolicy for role "${bot.role}"`);
    }
  }
  return (await medplum.post(`admin/projects/${me.project.id}/bot`, {
    name: bot.name,
    description: `EmergiSphere bot ${bot.name}`,
    ...(accessPolicy ? { accessPolicy: { reference: `AccessPolicy/${accessPolicy.id}` } } : {}),
  })) as Bot;
}

/** Sorted-key JSON, for "did anything change" comparisons. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** Makes the bot's Subscriptions exactly those in its file (matched by criteria); removes others pointing at the bot. */
async function upsertSubscriptions(
  medplum: MedplumClient,
  rootDir: string,
  bot: BotConfig,
  botId: string,
): Promise<DeployedBot['subscriptions']> {
  const counts = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
  const file = bot.subscriptions ?? `${dirname(bot.source)}/subscriptions.json`;
  const path = resolve(rootDir, file);
  const wanted: Subscription[] = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8').replaceAll('{{botId}}', botId)) : [];
  const endpoint = `Bot/${botId}`;
  const existing = await medplum.searchResources('Subscription', { url: endpoint, _count: '1000' }, { cache: 'no-cache' });
  const left = [...existing];
  for (const sub of wanted) {
    const i = left.findIndex((e) => e.criteria === sub.criteria);
    if (i < 0) {
      await medplum.createResource(sub);
      counts.created++;
      continue;
    }
    const [current] = left.splice(i, 1);
    const { id, meta, ...rest } = current;
    if (canonical(rest) === canonical(sub)) {
      counts.unchanged++;
    } else {
      await medplum.updateResource({ ...sub, id, meta: { versionId: meta?.versionId } } as Subscription);
      counts.updated++;
    }
  }
  for (const stale of left) {
    await medplum.deleteResource('Subscription', stale.id as string);
    counts.deleted++;
  }
  return counts;
}

/**
 * Upserts the OperationDefinitions the bot implements (Medplum's custom operations), matched by
 * canonical URL; an unchanged definition is left alone. Returns how many the file declares.
 */
async function upsertOperations(medplum: MedplumClient, rootDir: string, bot: BotConfig, botId: string): Promise<number> {
  const path = resolve(rootDir, bot.operations ?? `${dirname(bot.source)}/operations.json`);
  if (!existsSync(path)) {
    return 0;
  }
  const wanted: OperationDefinition[] = JSON.parse(readFileSync(path, 'utf8').replaceAll('{{botId}}', botId));
  for (const op of wanted) {
    if (!op.url) {
      throw new Error(`Bot ${bot.name}: every OperationDefinition in ${path} needs a url`);
    }
    const current = await medplum.searchOne('OperationDefinition', { url: op.url }, { cache: 'no-cache' });
    if (!current) {
      await medplum.createResource(op);
    } else {
      const { id, meta, ...rest } = current;
      if (canonical(rest) !== canonical(op)) {
        await medplum.updateResource({ ...op, id, meta: { versionId: meta?.versionId } } as OperationDefinition);
      }
    }
  }
  return wanted.length;
}

/**
 * The Bot as the config wants it (identifier, cronString, timeout), or undefined when it already is.
 * A setting absent from the config is removed from the Bot, so the config stays the source of truth.
 */
export function botSettings(resource: Bot, bot: BotConfig): Bot | undefined {
  if (bot.timeout !== undefined && (!Number.isInteger(bot.timeout) || bot.timeout <= 0)) {
    throw new Error(`Bot ${bot.name}: timeout must be a positive whole number of seconds`);
  }
  const identifier = resource.identifier ?? [];
  const { cronString: _c, timeout: _t, ...rest } = resource;
  const wanted: Bot = {
    ...rest,
    identifier: identifier.some((i) => i.system === BOT_IDENTIFIER_SYSTEM)
      ? identifier
      : [...identifier, { system: BOT_IDENTIFIER_SYSTEM, value: bot.name }],
    ...(bot.cronString ? { cronString: bot.cronString } : {}),
    ...(bot.timeout !== undefined ? { timeout: bot.timeout } : {}),
  };
  return canonical(wanted) === canonical(resource) ? undefined : wanted;
}

/** Deploys the configured bots (or only those named; `bots` replaces medplum.config.json, e.g. for test fixtures). */
export async function deployBots(
  medplum: MedplumClient,
  options: { rootDir: string; only?: string[]; log?: (line: string) => void; bots?: BotConfig[] },
): Promise<DeployedBot[]> {
  const log = options.log ?? (() => undefined);
  const results: DeployedBot[] = [];
  for (const bot of options.bots ?? readBotConfig(options.rootDir)) {
    if (options.only?.length && !options.only.includes(bot.name)) continue;
    const code = await bundleBot(options.rootDir, bot);
    let resource = await findBot(medplum, bot);
    const created = !resource;
    resource ??= await createBot(medplum, bot);
    const id = resource.id as string;
    const settings = botSettings(resource, bot);
    if (settings) {
      resource = await medplum.updateResource(settings);
    }
    await medplum.post(medplum.fhirUrl('Bot', id, '$deploy'), { code, filename: 'index.js' });
    const subscriptions = await upsertSubscriptions(medplum, options.rootDir, bot, id);
    const operations = await upsertOperations(medplum, options.rootDir, bot, id);
    log(
      `bot ${bot.name}: ${created ? 'created' : 'updated'} Bot/${id}, code deployed, subscriptions ${JSON.stringify(subscriptions)}` +
        (operations ? `, ${operations} operation(s)` : ''),
    );
    results.push({ name: bot.name, id, created, subscriptions, operations });
  }
  return results;
}

async function main(): Promise<void> {
  const medplum = await clientFromEnv();
  const results = await deployBots(medplum, {
    rootDir: process.cwd(),
    only: process.argv.slice(2),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  if (results.length === 0) {
    process.stdout.write('No bots to deploy (medplum.config.json lists none with existing sources)\n');
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`deploy-bots failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * Test-only: the whole HL7 path on real parts — our server on a fresh database, the HL7 bots
 * deployed with their Subscriptions, and the bridge in-process, signed in as its own
 * ClientApplication with the hl7-bridge role (created the way `npm run admin -- client` does).
 */
import { resolve } from 'node:path';
import { MedplumClient } from '@medplum/core';
import type { Project } from '@medplum/fhirtypes';
import pino from 'pino';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { createClient } from '../../server/auth/admin.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { type RunningBridge, startBridge } from '../bridge.ts';
import { testChannels } from './mllp.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Stack {
  t: TestServer;
  bridge: RunningBridge;
  /** The bridge's own client (role hl7-bridge). */
  client: { id: string; secret: string };
  /** The test channel's MLLP port. */
  port: number;
  /** GET/POST on the bridge API as the admin. */
  api<T = unknown>(path: string, init?: { method?: string; body?: unknown; token?: string }): Promise<{ status: number; body: T }>;
  setSecret(name: string, value: string): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(
  options: { channels?: Record<string, unknown>; bots?: string[]; conversionWorkers?: number } = {},
): Promise<Stack> {
  const t = await startTestServer({ subscriptions: { pollIntervalMs: 100, backoffBaseMs: 100, backoffMaxMs: 1000 } });
  try {
    await deployBots(t.medplum, { rootDir: ROOT, only: options.bots ?? ['hl7-inbound'] });
    const { client, secret } = await createClient(t.server.app.repo(), t.server.bootstrap.project, {
      name: 'HL7 bridge (test)',
      role: 'hl7-bridge',
    });
    const medplum = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await medplum.startClientLogin(client.id, secret);
    const bridge = await startBridge({
      channels: testChannels(options.channels),
      databaseUrl: t.databaseUrl,
      medplum,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      ownProfile: `ClientApplication/${client.id}`,
      ...(options.conversionWorkers !== undefined ? { conversionWorkers: options.conversionWorkers } : {}),
    });
    const setSecret = async (name: string, value: string) => {
      const project = await t.medplum.readResource('Project', t.server.bootstrap.project.id, { cache: 'no-cache' });
      await t.medplum.updateResource<Project>({
        ...project,
        secret: [...(project.secret ?? []).filter((s) => s.name !== name), { name, valueString: value }],
      });
    };
    await setSecret('HL7_BRIDGE_URL', bridge.apiUrl);
    return {
      t,
      bridge,
      client: { id: client.id, secret },
      port: bridge.ports.test,
      setSecret,
      api: async (path, init = {}) => {
        const res = await fetch(new URL(path, bridge.apiUrl), {
          method: init.method ?? (init.body ? 'POST' : 'GET'),
          headers: {
            authorization: init.token === undefined ? t.authorization : init.token ? `Bearer ${init.token}` : '',
            ...(init.body ? { 'content-type': 'application/json' } : {}),
          },
          body: init.body ? JSON.stringify(init.body) : undefined,
        });
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : undefined) as never };
      },
      close: async () => {
        await bridge.close();
        await t.close();
      },
    };
  } catch (err) {
    await t.close();
    throw err;
  }
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

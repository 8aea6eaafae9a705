// Crash test: the bridge runs as its own process (`npm run hl7`'s entry) while four MLLP senders
// stream ADT^A01s at it; it is SIGKILLed mid-stream — with messages being received, stored and
// converted — and started again. Like real senders, ours resend whatever got no ACK. Afterwards,
// every ACKed message must be converted, and converted once: one Patient per MRN, one version each.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deployBots } from '../scripts/deploy-bots.ts';
import { createClient } from '../server/auth/admin.ts';
import { freePort, startTestServer, type TestServer } from '../test/server.ts';
import { Message } from './hl7v2/message.ts';
import { MllpClient } from './mllp/client.ts';
import { adtA01 } from './test-corpus/messages.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SENDERS = 4;
const PER_SENDER = 90;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestServer;
let sql: pg.Pool;
let dir: string;
let env: Record<string, string>;
let port: number;
let child: ChildProcess | undefined;

beforeAll(async () => {
  t = await startTestServer();
  await deployBots(t.medplum, { rootDir: ROOT, only: ['hl7-inbound'] });
  const { client, secret } = await createClient(t.server.app.repo(), t.server.bootstrap.project, {
    name: 'HL7 bridge (crash test)',
    role: 'hl7-bridge',
  });
  dir = mkdtempSync(join(tmpdir(), 'hl7-crash-'));
  port = await freePort();
  // A short conversion lease, so the killed process's claims expire quickly.
  writeFileSync(
    join(dir, 'channels.json'),
    JSON.stringify({
      inbound: [{ name: 'default', port, host: '127.0.0.1' }],
      conversion: { workers: 2, batchSize: 20, leaseSeconds: 5 },
      api: { port: 0, host: '127.0.0.1' },
    }),
  );
  env = {
    PATH: process.env.PATH ?? '',
    MEDPLUM_BASE_URL: t.baseUrl,
    MEDPLUM_CLIENT_ID: client.id,
    MEDPLUM_CLIENT_SECRET: secret,
    HL7_DATABASE_URL: t.databaseUrl,
    HL7_CHANNELS: join(dir, 'channels.json'),
    LOG_LEVEL: 'error',
  };
  sql = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await sql?.end();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startBridgeProcess(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['hl7-bridge/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const end = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the bridge exited with ${proc.exitCode}`);
    const probe = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 500 });
    try {
      await probe.send('MSH|^~\\&|PROBE|X|||20260105||ADT^A01|PROBE|P|2.5\r', 1000);
      return proc;
    } catch {
      if (Date.now() > end) throw new Error('the bridge did not start listening');
      await sleep(100);
    } finally {
      probe.close();
    }
  }
}

test('SIGKILL mid-stream: every ACKed message is converted after restart, nothing twice', async () => {
  child = await startBridgeProcess();
  const acked = new Set<string>();
  let killed = false;
  const sender = async (s: number) => {
    let client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 500 });
    for (let i = 0; i < PER_SENDER; i++) {
      const n = s * 1000 + i;
      const text = adtA01(n, { controlId: `CRASH-${n}` });
      // A real sender: no ACK (connection lost, timeout) → resend the same message until ACKed.
      for (;;) {
        try {
          const ack = Message.parse((await client.send(text, 3000)).toString());
          expect(ack.get('MSA-2')).toBe(`CRASH-${n}`);
          expect(['AA', 'CA']).toContain(ack.get('MSA-1'));
          acked.add(`CRASH-${n}`);
          break;
        } catch {
          client.close();
          client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 500 });
          await sleep(50);
        }
      }
    }
    client.close();
  };
  const senders = Array.from({ length: SENDERS }, (_, s) => sender(s));
  // Kill once a good part is ACKed and conversion is under way, then restart.
  while (acked.size < (SENDERS * PER_SENDER) / 3) await sleep(10);
  const { rows: before } = await sql.query(
    "SELECT count(*) FILTER (WHERE status = 'converted')::int AS converted FROM hl7.message WHERE control_id LIKE 'CRASH-%'",
  );
  child.kill('SIGKILL');
  killed = true;
  await new Promise((r) => child?.once('exit', r));
  child = await startBridgeProcess();
  await Promise.all(senders);
  expect(killed).toBe(true);
  expect(acked.size).toBe(SENDERS * PER_SENDER);

  // Everything ACKed is stored once and converted (the killed process's claims expire and are redone).
  const end = Date.now() + 120_000;
  let counts: { total: number; converted: number; pending: number; error: number };
  for (;;) {
    const { rows } = await sql.query(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'converted')::int AS converted,
              count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'error')::int AS error
       FROM hl7.message WHERE control_id LIKE 'CRASH-%'`,
    );
    counts = rows[0];
    if (counts.pending === 0 || Date.now() > end) break;
    await sleep(250);
  }
  expect(counts).toEqual({ total: SENDERS * PER_SENDER, converted: SENDERS * PER_SENDER, pending: 0, error: 0 });
  expect(before[0].converted).toBeLessThan(SENDERS * PER_SENDER);

  // Converted once: exactly one Patient per MRN, each with one version (a second conversion would
  // have created a duplicate or — had anything differed — a new version).
  const patients = await t.medplum.searchResources('Patient', { _count: '1000' }, { cache: 'no-cache' });
  const mrns = patients.map((p) => p.identifier?.find((i) => i.system === 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP')?.value);
  expect(new Set(mrns).size).toBe(mrns.length);
  expect(mrns.length).toBe(SENDERS * PER_SENDER);
  const history = (await t.medplum.get(t.medplum.fhirUrl('Patient', '_history') + '?_count=2000', { cache: 'no-cache' })) as {
    entry?: unknown[];
  };
  expect(history.entry).toHaveLength(SENDERS * PER_SENDER);
  const encounters = await t.medplum.searchResources('Encounter', { _count: '1000' }, { cache: 'no-cache' });
  expect(encounters).toHaveLength(SENDERS * PER_SENDER);
}, 300_000);

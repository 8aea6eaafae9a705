// The inbound listener over real TCP/TLS and a real PostgreSQL store, without conversion (the
// conversion workers are off here; the hl7-inbound bot tests cover them through the server).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MedplumClient } from '@medplum/core';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createScratchDatabase } from '../../test/database.ts';
import { type RunningBridge, startBridge } from '../bridge.ts';
import { encodeText } from '../hl7v2/charset.ts';
import { Message } from '../hl7v2/message.ts';
import { MllpClient } from '../mllp/client.ts';
import { frame } from '../mllp/framing.ts';
import { getRaw } from '../store/message-log.ts';
import { adtA01, corpus, garbage, invalid } from '../test-corpus/messages.ts';
import { sendRaw, testChannels } from '../test-support/mllp.ts';

const TLS_DIR = resolve(import.meta.dirname, '../test-corpus/tls');
let db: { url: string; drop(): Promise<void> };
let bridge: RunningBridge;
let sql: pg.Pool;
let port: number;
let tlsPort: number;

beforeAll(async () => {
  db = await createScratchDatabase(inject('adminDatabaseUrl'));
  const channels = testChannels(
    {
      inbound: [
        { name: 'test', port: 0, host: '127.0.0.1', maxFrameBytes: 4096 },
        { name: 'secure', port: 0, host: '127.0.0.1', tls: { cert: 'server.crt', key: 'server.key', ca: 'ca.crt', requestCert: true } },
      ],
    },
    TLS_DIR,
  );
  bridge = await startBridge({
    channels,
    databaseUrl: db.url,
    // Conversion is off in this file: the client is never used.
    medplum: new MedplumClient({ baseUrl: 'http://127.0.0.1:9/' }),
    logger: pino({ level: 'silent' }),
    conversionWorkers: 0,
  });
  port = bridge.ports.test;
  tlsPort = bridge.ports.secure;
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await bridge?.close();
  await sql?.end();
  await db?.drop();
});

async function row(controlId: string): Promise<Record<string, unknown>> {
  const { rows } = await sql.query('SELECT * FROM hl7.message WHERE control_id = $1 ORDER BY id', [controlId]);
  expect(rows).toHaveLength(1);
  return rows[0];
}

function ackOf(bytes: Buffer, charset = 'UNICODE UTF-8'): Message {
  return Message.parse(charset === '8859/1' ? bytes.toString('latin1') : bytes.toString('utf8'));
}

describe('every corpus message over a real MLLP client', () => {
  test.each(Object.entries(corpus).filter(([n]) => n !== 'batch' && n !== 'adtA08Latin1'))(
    '%s: AA, stored byte for byte before the ACK',
    async (_name, text) => {
      const client = new MllpClient({ host: '127.0.0.1', port });
      try {
        const reply = ackOf(await client.send(text));
        const inbound = Message.parse(text);
        expect(reply.get('MSA-1')).toBe('AA');
        expect(reply.get('MSA-2')).toBe(inbound.controlId);
        expect(reply.header.field(5)).toBe(inbound.header.field(3));
        expect(reply.header.field(6)).toBe(inbound.header.field(4));
        expect(reply.delimiters).toEqual(inbound.delimiters);
        const stored = await row(inbound.controlId);
        expect((await getRaw(sql, String(stored.id)))?.equals(Buffer.from(text, 'utf8'))).toBe(true);
        // The bytes are the text in its charset: stored once.
        expect(stored.raw).toBeNull();
        expect(stored.body).toBe(text);
        expect(stored).toMatchObject({ status: 'pending', accepted: true, ack_code: 'AA', message_type: inbound.typeName });
        expect((stored.ack as Buffer).toString('utf8')).toBe(reply.toString());
      } finally {
        client.close();
      }
    },
  );

  test('ISO 8859/1 bytes: stored as sent, decoded for conversion, ACK in the same charset', async () => {
    const bytes = Buffer.from(encodeText(corpus.adtA08Latin1, '8859/1'));
    const [reply] = await sendRaw([frame(bytes)], { port, expect: 1 });
    expect(ackOf(reply, '8859/1').get('MSA-1')).toBe('AA');
    const stored = await row('MSG00003');
    expect((await getRaw(sql, String(stored.id)))?.equals(bytes)).toBe(true);
    expect(stored.body).toContain('Ørsted^Zoë');
    expect(stored.charset).toBe('8859/1');
    expect(stored.patient_ids).toEqual(['556677', 'MCM|556677']);
  });

  test('patient identifiers and lanes are indexed', async () => {
    const stored = await row('MSG00001');
    expect(stored.patient_ids).toEqual(['000123456', 'GENHOSP|000123456', '987-65-4320', 'SSA|987-65-4320']);
    expect(stored.lane).toBe('GENHOSP|000123456');
    expect(stored.sending_application).toBe('EPIC');
    expect(stored.message_time).toBe('20260105081530-0500');
  });
});

describe('framing that is correct for real networks', () => {
  const m = (n: number) => Buffer.from(adtA01(n, { controlId: `FRAMING-${n}` }));

  test('a frame split across chunks, also between FS and CR', async () => {
    const f = frame(m(1));
    const fs = f.length - 2;
    const chunks = [f.subarray(0, 1), f.subarray(1, 40), f.subarray(40, fs), f.subarray(fs, fs + 1), f.subarray(fs + 1)];
    const [reply] = await sendRaw(chunks, { port, expect: 1, delayMs: 30 });
    expect(ackOf(reply).get('MSA-2')).toBe('FRAMING-1');
  });

  test('several frames in one chunk are all answered, in order', async () => {
    const chunk = Buffer.concat([frame(m(2)), frame(m(3)), frame(m(4))]);
    const replies = await sendRaw([chunk], { port, expect: 3 });
    expect(replies.map((r) => ackOf(r).get('MSA-2'))).toEqual(['FRAMING-2', 'FRAMING-3', 'FRAMING-4']);
  });

  test('a leading UTF-8 BOM, stray bytes between frames, a frame ending in the next chunk with the next frame', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const first = frame(Buffer.concat([bom, m(5)]));
    const second = frame(m(6));
    const chunks = [
      Buffer.concat([Buffer.from('\r\n junk \x00'), first.subarray(0, first.length - 1)]),
      Buffer.concat([first.subarray(first.length - 1), Buffer.from('xx'), second]),
    ];
    const replies = await sendRaw(chunks, { port, expect: 2, delayMs: 20 });
    expect(replies.map((r) => ackOf(r).get('MSA-2'))).toEqual(['FRAMING-5', 'FRAMING-6']);
    const stored = await row('FRAMING-5');
    // With a BOM the bytes differ from the text: they are kept as received.
    expect((stored.raw as Buffer).subarray(0, 3).equals(bom)).toBe(true);
    expect((await getRaw(sql, String(stored.id)))?.equals(Buffer.concat([bom, m(5)]))).toBe(true);
    expect(stored.body).toBe(m(5).toString());
  });

  test('a frame abandoned by a new start block is dropped; the next one is answered', async () => {
    const partial = frame(m(7)).subarray(0, 60);
    const replies = await sendRaw([Buffer.concat([partial, frame(m(8))])], { port, expect: 1 });
    expect(ackOf(replies[0]).get('MSA-2')).toBe('FRAMING-8');
    const { rows } = await sql.query("SELECT 1 FROM hl7.message WHERE control_id = 'FRAMING-7'");
    expect(rows).toHaveLength(0);
  });

  test('a frame larger than the channel allows gets AR 104 and is logged', async () => {
    const big = adtA01(9, { controlId: 'FRAMING-BIG' }) + `NTE|1||${'x'.repeat(6000)}\r`;
    const [reply] = await sendRaw([frame(big)], { port, expect: 1 });
    const ack = ackOf(reply);
    expect(ack.get('MSA-1')).toBe('AR');
    expect(ack.get('ERR-3')).toBe('104');
  });
});

describe('ACKs and rejections', () => {
  test.each(Object.entries(garbage))('garbage %s: AR with ERR, stored, and the connection still works', async (name, text) => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const reply = ackOf(await client.send(text));
      expect(reply.get('MSA-1')).toBe('AR');
      expect(reply.all('ERR').length).toBeGreaterThan(0);
      const { rows } = await sql.query('SELECT status, ack_code FROM hl7.message WHERE body = $1', [text]);
      expect(rows[0]).toMatchObject({ status: 'rejected', ack_code: 'AR' });
      const ok = ackOf(await client.send(adtA01(100, { controlId: `AFTER-${name}` })));
      expect(ok.get('MSA-1')).toBe('CA');
    } finally {
      client.close();
    }
  });

  test('binary noise inside a frame: AR, never silence', async () => {
    const [reply] = await sendRaw([frame(Buffer.from([0x00, 0xff, 0xfe, 0x10, 0x80]))], { port, expect: 1 });
    expect(ackOf(reply).get('MSA-1')).toBe('AR');
  });

  test.each(Object.entries(invalid))('%s: AE with ERR segments saying what and where', async (_name, text) => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const reply = ackOf(await client.send(text));
      expect(reply.get('MSA-1')).toBe('AE');
      expect(reply.get('MSA-2')).toBe(Message.parse(text).controlId);
      for (const err of reply.all('ERR')) {
        expect(err.value(2)).toMatch(/^[A-Z][A-Z0-9]{2}$/);
        expect(err.value(3)).toMatch(/^1\d\d$/);
      }
    } finally {
      client.close();
    }
  });

  test('enhanced mode (MSH-15 valued): commit ACK CA', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const reply = ackOf(await client.send(adtA01(200, { controlId: 'ENHANCED-1' })));
      expect(reply.get('MSA-1')).toBe('CA');
    } finally {
      client.close();
    }
  });
});

describe('duplicate control', () => {
  test('a resend gets the original ACK and is not stored or queued twice', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const text = corpus.oruVitals.replace('MSG00010', 'DUP-1');
      const first = await client.send(text);
      const second = await client.send(text);
      expect(second.equals(first)).toBe(true);
      const stored = await row('DUP-1');
      expect(stored.resends).toBe(1);
      // The same MSH-10 from another sending facility is a different message.
      const other = await client.send(text.replace('|MONITOR|GENHOSP|', '|MONITOR|OTHERHOSP|'));
      expect(ackOf(other).controlId).not.toBe(ackOf(first).controlId);
      const { rows } = await sql.query("SELECT count(*)::int AS n FROM hl7.message WHERE control_id = 'DUP-1'");
      expect(rows[0].n).toBe(2);
    } finally {
      client.close();
    }
  });

  test('resends inside one group commit', async () => {
    const text = adtA01(300, { controlId: 'DUP-2' });
    const replies = await sendRaw([Buffer.concat([frame(text), frame(text), frame(text)])], { port, expect: 3 });
    expect(replies[1].equals(replies[0])).toBe(true);
    expect(replies[2].equals(replies[0])).toBe(true);
    expect((await row('DUP-2')).resends).toBe(2);
  });

  test('a rejected message is not deduplicated: its corrected resend is accepted', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const bad = invalid.missingPid3.replace('BAD1', 'FIXED-1');
      expect(ackOf(await client.send(bad)).get('MSA-1')).toBe('AE');
      const fixed = bad.replace('PID|1||||Doe^John', 'PID|1||4242^^^GENHOSP^MR||Doe^John');
      expect(ackOf(await client.send(fixed)).get('MSA-1')).toBe('AA');
    } finally {
      client.close();
    }
  });
});

describe('batches', () => {
  test('FHS/BHS batch: split into messages, answered with a batch of ACKs', async () => {
    const [reply] = await sendRaw([frame(corpus.batch)], { port, expect: 1 });
    const text = reply.toString('utf8');
    const lines = text.split('\r').filter(Boolean);
    expect(lines[0]).toMatch(/^FHS\|\^~\\&\|EMERGISPHERE\|ED\|REGADT\|MCM\|/);
    expect(lines[1].split('|')[11]).toBe('BATCH01');
    expect(lines.filter((l) => l.startsWith('MSA'))).toEqual(['MSA|AA|B0001', 'MSA|AA|B0002']);
    expect(lines.slice(-2)).toEqual(['BTS|2', 'FTS|1']);
    expect((await row('B0002')).body).toBe(corpus.batch.split('\r').slice(5, 8).join('\r') + '\r');
  });
});

describe('many concurrent connections', () => {
  test('20 connections × 25 messages: every message ACKed once, stored once, unique ACK ids', async () => {
    const clients = Array.from({ length: 20 }, () => new MllpClient({ host: '127.0.0.1', port }));
    try {
      const acks = await Promise.all(
        clients.map(async (c, ci) => {
          const out: Message[] = [];
          for (let i = 0; i < 25; i++) out.push(ackOf(await c.send(adtA01(ci * 100 + i, { controlId: `CONC-${ci}-${i}` }))));
          return out;
        }),
      );
      const flat = acks.flat();
      expect(flat.every((a) => a.get('MSA-1') === 'CA')).toBe(true);
      expect(new Set(flat.map((a) => a.controlId)).size).toBe(500);
      const { rows } = await sql.query("SELECT count(*)::int AS n FROM hl7.message WHERE control_id LIKE 'CONC-%'");
      expect(rows[0].n).toBe(500);
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('TLS', () => {
  const tlsFile = (f: string) => readFileSync(resolve(TLS_DIR, f));
  test('MLLP over TLS with a client certificate', async () => {
    const client = new MllpClient({
      host: '127.0.0.1',
      port: tlsPort,
      tls: {
        ca: tlsFile('ca.crt'),
        cert: tlsFile('client.crt'),
        key: tlsFile('client.key'),
        servername: 'localhost',
        rejectUnauthorized: true,
      },
    });
    try {
      expect(ackOf(await client.send(adtA01(400, { controlId: 'TLS-1' }))).get('MSA-2')).toBe('TLS-1');
      expect((await row('TLS-1')).channel).toBe('secure');
    } finally {
      client.close();
    }
  });

  test('a client without a certificate is refused', async () => {
    const client = new MllpClient({
      host: '127.0.0.1',
      port: tlsPort,
      tls: { ca: tlsFile('ca.crt'), servername: 'localhost', rejectUnauthorized: true },
      connectTimeoutMs: 2000,
    });
    try {
      await expect(client.send(adtA01(401, { controlId: 'TLS-2' }), 2000)).rejects.toThrow();
    } finally {
      client.close();
    }
  });
});

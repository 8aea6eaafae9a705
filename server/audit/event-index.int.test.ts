import { randomUUID } from 'node:crypto';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { AuditLog, createAuditPool } from './audit-log.ts';
import { compactRowJson } from './event-index.ts';
import { loginAuditEvent, restAuditEvent } from './events.ts';

let t: TestServer;
let pool: pg.Pool;
const m = randomUUID().slice(0, 8);
const X = `Practitioner/x-${m}`;
/** A real Patient (created first), so _revinclude and $everything can start from it. */
let P = '';
const O = `Observation/o-${m}`;
const ids: Record<string, string> = {};
const start = new Date(Date.now() - 60_000);

/** A REST read (A), a failed create (B), a failed login (C), a bot-style event with two agents (D), a search (E). */
function events(): Record<string, AuditEvent> {
  const at = (s: number) => new Date(start.getTime() + s * 1000).toISOString();
  return {
    A: {
      ...restAuditEvent({
        interaction: 'read',
        actor: { ip: '10.1.2.3', clientId: `cli-${m}`, who: { reference: X } },
        status: 200,
        what: [P],
      }),
      recorded: at(1),
    },
    B: {
      ...restAuditEvent({
        interaction: 'create',
        actor: { ip: '10.9.9.9', who: { reference: `Practitioner/y-${m}` } },
        status: 422,
        what: [O],
      }),
      recorded: at(2),
    },
    C: { ...loginAuditEvent({ email: `nurse.${m}@example.org`, actor: { ip: '10.1.2.4' }, success: false, reason: 'x' }), recorded: at(3) },
    D: {
      resourceType: 'AuditEvent',
      type: { system: 'https://medplum.com/CodeSystem/audit-event-type', code: 'execute' },
      action: 'E',
      recorded: at(4),
      outcome: '0',
      agent: [
        { who: { reference: `Bot/b-${m}` }, requestor: false },
        { who: { reference: X }, requestor: true },
      ],
      source: { observer: { reference: `Bot/b-${m}` } },
      entity: [{ what: { reference: `Bot/b-${m}` } }],
    },
    E: {
      ...restAuditEvent({
        interaction: 'search-type',
        actor: { ip: '10.5.5.5', who: { reference: X } },
        status: 200,
        query: 'Patient?name=x',
      }),
      recorded: at(5),
    },
  };
}

beforeAll(async () => {
  t = await startTestServer();
  pool = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  const patient = await t.medplum.createResource({ resourceType: 'Patient', name: [{ family: `Audited-${m}` }] });
  P = `Patient/${patient.id}`;
  const auditPool = createAuditPool(t.databaseUrl);
  const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
  for (const [label, event] of Object.entries(events())) {
    ids[label] = randomUUID();
    await log.record({ ...event, id: ids[label] });
  }
  await log.indexPending();
  await log.close();
  await auditPool.end();
});

afterAll(async () => {
  await pool.end();
  await t.close();
});

/** Labels of the test's events that a search finds (scoped to them with _id), in result order. */
async function find(query: Record<string, string>): Promise<string[]> {
  const labelOf = new Map(Object.entries(ids).map(([label, id]) => [id, label]));
  const bundle = await t.medplum.search('AuditEvent', { _id: Object.values(ids).join(','), _count: '50', ...query }, { cache: 'no-cache' });
  return (bundle.entry ?? []).map((e) => labelOf.get(e.resource?.id as string) ?? `other:${e.resource?.id}`);
}

const sorted = async (query: Record<string, string>) => (await find(query)).sort();

describe('AuditEvents in the compact index', () => {
  test('the server events get one compact row and no sp_* or history rows; an event that does not fit keeps sp_* rows', async () => {
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM audit_event_index WHERE id = ANY($1::text[])', [Object.values(ids)]);
    expect(rows.map((r) => r.id).sort()).toEqual([ids.A, ids.B, ids.C, ids.E].sort());
    const generic = await pool.query<{ id: string }>(
      "SELECT DISTINCT id FROM sp_token WHERE resource_type = 'AuditEvent' AND id = ANY($1::text[])",
      [Object.values(ids)],
    );
    expect(generic.rows.map((r) => r.id)).toEqual([ids.D]);
    const history = await pool.query('SELECT 1 FROM resource_history WHERE id = ANY($1::text[])', [Object.values(ids)]);
    expect(history.rowCount).toBe(0);
  });

  test('an event recorded with its index row (SQL alone indexes it) and one without (an older release) get the same row', async () => {
    const stamped = (ip: string) => ({
      ...restAuditEvent({ interaction: 'read', actor: { ip, clientId: 'ç', who: { reference: X } }, status: 200, what: [O] }),
      id: randomUUID(),
      meta: { versionId: randomUUID(), lastUpdated: new Date().toISOString() },
    });
    const [withRow, without] = [stamped('10.7.7.7'), stamped('10.7.7.7')];
    without.recorded = withRow.recorded;
    expect(compactRowJson(withRow)).not.toBeNull();
    await pool.query('INSERT INTO audit_log (content, index_row) VALUES ($1, $2), ($3, NULL)', [
      JSON.stringify(withRow),
      compactRowJson(withRow),
      JSON.stringify(without),
    ]);
    const found = await t.medplum.searchResources('AuditEvent', { _id: `${withRow.id},${without.id}`, address: '10.7.7.7', entity: O });
    expect(found.map((e) => e.id).sort()).toEqual([withRow.id, without.id].sort());
    const { rows } = await pool.query('SELECT * FROM audit_event_index WHERE id = ANY($1::text[])', [[withRow.id, without.id]]);
    expect(rows).toHaveLength(2);
    const strip = ({ id: _, ...rest }: Record<string, unknown>) => rest;
    expect(strip(rows[0])).toEqual(strip(rows[1]));
    expect(rows[0].address_raw).toBe('10.7.7.7');
    const stored = await pool.query("SELECT content, version_id::text FROM resource WHERE resource_type = 'AuditEvent' AND id = $1", [
      withRow.id,
    ]);
    expect(stored.rows[0]).toEqual({ content: JSON.stringify(withRow), version_id: withRow.meta.versionId });
  });

  test('an event with a lone surrogate (a sign-in email sent as "\\ud800") is indexed, and does not hold up its batch', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
    const [odd, plain] = [randomUUID(), randomUUID()];
    const email = JSON.parse(`"x\\ud800-${m}@example.org"`) as string;
    await Promise.all([
      log.record({ ...loginAuditEvent({ email, actor: { ip: '10.8.8.8' }, success: false }), id: odd }),
      log.record({ ...loginAuditEvent({ email: `ok-${m}@example.org`, actor: { ip: '10.8.8.8' }, success: false }), id: plain }),
    ]);
    await log.close();
    await auditPool.end();
    const found = await t.medplum.searchResources('AuditEvent', { _id: `${odd},${plain}`, address: '10.8.8.8' }, { cache: 'no-cache' });
    expect(found.map((e) => e.id).sort()).toEqual([odd, plain].sort());
  });

  test('reference parameters: agent, entity, patient, and :missing', async () => {
    expect(await sorted({ agent: X })).toEqual(['A', 'D', 'E']);
    expect(await sorted({ agent: `Bot/b-${m}` })).toEqual(['D']);
    expect(await sorted({ patient: P })).toEqual(['A']);
    expect(await sorted({ entity: O })).toEqual(['B']);
    expect(await sorted({ 'entity:missing': 'true' })).toEqual(['C', 'E']);
    expect(await sorted({ 'agent:missing': 'false' })).toEqual(['A', 'B', 'D', 'E']);
  });

  test('token parameters, with system, :not and :text', async () => {
    expect(await sorted({ subtype: 'read' })).toEqual(['A']);
    expect(await sorted({ subtype: 'http://hl7.org/fhir/restful-interaction|create' })).toEqual(['B']);
    expect(await sorted({ subtype: 'http://example.org/other|create' })).toEqual([]);
    expect(await sorted({ outcome: '4' })).toEqual(['B', 'C']);
    expect(await sorted({ 'outcome:not': '0' })).toEqual(['B', 'C']);
    expect(await sorted({ action: 'E' })).toEqual(['C', 'D', 'E']);
    expect(await sorted({ altid: `cli-${m}` })).toEqual(['A']);
    expect(await sorted({ 'entity-role': '24' })).toEqual(['E']);
    expect(await sorted({ 'type:text': 'restful' })).toEqual(['A', 'B', 'E']);
    expect(await sorted({ type: '110114' })).toEqual(['C']);
  });

  test('string and date parameters, and sorting by date', async () => {
    expect(await sorted({ address: '10.1.2' })).toEqual(['A', 'C']);
    expect(await sorted({ 'agent-name:contains': `nurse.${m}` })).toEqual(['C']);
    expect(await sorted({ date: `ge${start.toISOString()}` })).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(await sorted({ date: `lt${start.toISOString()}` })).toEqual([]);
    expect(await sorted({ date: `gt${new Date(start.getTime() + 2500).toISOString()}` })).toEqual(['C', 'D', 'E']);
    expect(await find({ _sort: '-date' })).toEqual(['E', 'D', 'C', 'B', 'A']);
    expect(await find({ _sort: 'date', outcome: '0' })).toEqual(['A', 'D', 'E']);
  });

  test('vread, history, _revinclude and Patient/$everything reach compact events', async () => {
    const a = await t.medplum.readResource('AuditEvent', ids.A);
    const version = await t.medplum.readVersion('AuditEvent', ids.A, a.meta?.versionId as string);
    expect(version.id).toBe(ids.A);
    const history = await t.medplum.readHistory('AuditEvent', ids.A);
    expect(history.entry?.map((e) => e.resource?.id)).toEqual([ids.A]);
    const rev = await t.medplum.search('Patient', { _id: P.split('/')[1], _revinclude: 'AuditEvent:patient' }, { cache: 'no-cache' });
    expect(rev.entry?.map((e) => e.resource?.id)).toContain(ids.A);
    const everything = (await t.medplum.get(`${t.medplum.fhirUrl('Patient', P.split('/')[1], '$everything')}?_type=AuditEvent`, {
      cache: 'no-cache',
    })) as Bundle;
    expect(everything.entry?.map((e) => e.resource?.id)).toContain(ids.A);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../fhir/definitions.ts';
import { buildIndexRows, emptyIndexRows } from '../fhir/indexer.ts';
import { auditViewsSql, COMPACT_COLUMNS, compactRow, indexSource } from './event-index.ts';
import { exportAuditEvent, loginAuditEvent, restAuditEvent } from './events.ts';

const MIGRATION = readFileSync(new URL('../db/migrations/0017_audit_event_index.sql', import.meta.url), 'utf8');

loadBaseDefinitions();

describe('audit event index', () => {
  test('migration 0017 has every compact column and the views auditViewsSql() generates', () => {
    const table = MIGRATION.slice(MIGRATION.indexOf('CREATE TABLE audit_event_index'), MIGRATION.indexOf(');'));
    for (const c of COMPACT_COLUMNS) {
      expect(table).toContain(`  ${c.name} ${c.type}`);
    }
    expect(table.match(/^ {2}\w+ \w+/gm)).toHaveLength(COMPACT_COLUMNS.length + 1);
    expect(MIGRATION).toContain(auditViewsSql());
  });

  test('the REST and login events of the server fit, values in their columns', () => {
    const actor = { ip: '10.0.0.1', clientId: 'c1', who: { reference: 'Practitioner/p1' } };
    const events = [
      restAuditEvent({ interaction: 'read', actor, status: 200, what: ['Patient/a'] }),
      restAuditEvent({ interaction: 'search-type', actor, status: 200, query: 'Patient?name=x' }),
      restAuditEvent({ interaction: 'read', actor: { ip: '10.0.0.1' }, status: 401 }),
      loginAuditEvent({ email: 'a@example.org', actor: { ip: '10.0.0.1' }, success: false, reason: 'invalid credentials' }),
    ];
    for (const event of events) {
      expect(compactRow(buildIndexRows({ ...event, id: 'x' })), JSON.stringify(event)).toBeDefined();
    }
    const row = compactRow(buildIndexRows({ ...events[0], id: 'x' })) as unknown[];
    const value = (name: string) => row[COMPACT_COLUMNS.findIndex((c) => c.name === name)];
    expect(value('action_system')).toBeNull();
    expect(value('action_value')).toBe('R');
    expect(value('subtype_system')).toBe('http://hl7.org/fhir/restful-interaction');
    expect(value('subtype_value')).toBe('read');
    expect(value('agent_target_type')).toBe('Practitioner');
    expect(value('agent_target_id')).toBe('p1');
    expect(value('patient_reference')).toBe('Patient/a');
    expect(value('address_raw')).toBe('10.0.0.1');
    expect(value('date_lo')).toBe(events[0].recorded);
  });

  test('events with rows the columns cannot hold are left to the generic index', () => {
    // Several entity types (one per exported type) and a detail-only entity.
    const exported = exportAuditEvent({
      who: { reference: 'Practitioner/p1' },
      jobId: 'j',
      requestUrl: '/fhir/R4/$export',
      counts: [{ type: 'Patient', count: 1 }],
    });
    const twoAgents = restAuditEvent({ interaction: 'read', actor: { ip: '1.1.1.1', who: { reference: 'Practitioner/a' } }, status: 200 });
    twoAgents.agent.push({ who: { reference: 'Practitioner/b' }, requestor: false });
    expect(compactRow(buildIndexRows({ ...twoAgents, id: 'x' }))).toBeUndefined();
    expect(compactRow(buildIndexRows({ ...exported, id: 'x' }))).toBeUndefined();
    const unknown = emptyIndexRows();
    unknown.uri.push(['policy', 'http://example.org/policy']);
    expect(compactRow(unknown)).toBeUndefined();
    const empty = emptyIndexRows();
    empty.token.push(['outcome', null, null]);
    expect(compactRow(empty)).toBeUndefined();
  });

  test('only AuditEvent searches read the views, and only for kinds with columns', () => {
    expect(indexSource('sp_token', 'AuditEvent')).toBe('audit_sp_token');
    expect(indexSource('sp_reference', 'AuditEvent')).toBe('audit_sp_reference');
    expect(indexSource('sp_uri', 'AuditEvent')).toBe('sp_uri');
    expect(indexSource('sp_token', 'Patient')).toBe('sp_token');
  });
});

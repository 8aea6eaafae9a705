import { readFileSync } from 'node:fs';
import type { AuditEvent } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../fhir/definitions.ts';
import { buildIndexRows, emptyIndexRows, searchParameterFingerprint } from '../fhir/indexer.ts';
import { auditViewsSql, COMPACT_COLUMNS, compactRow, DIRECT_FINGERPRINT, directCompactRow, indexSource } from './event-index.ts';
import { exportAuditEvent, loginAuditEvent, restAuditEvent } from './events.ts';

const MIGRATION = readFileSync(new URL('../db/migrations/0014_audit_event_index.sql', import.meta.url), 'utf8');

loadBaseDefinitions();

describe('audit event index', () => {
  test('migration 0014 has every compact column and the views auditViewsSql() generates', () => {
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

  test('the direct computation gives exactly the rows of the search parameters, or declines', () => {
    expect(searchParameterFingerprint('AuditEvent')).toBe(DIRECT_FINGERPRINT);
    const long = 'x'.repeat(1200);
    const whos = [undefined, { reference: 'Practitioner/p1', display: 'Dr P' }, { reference: 'Patient/a' }, { reference: 'Patient/b' }];
    const ips = ['10.0.0.1', '::1', ' Spaced ', 'ÄÖ-host'];
    const whats = [[], ['Patient/a'], ['Observation/o-1'], ['Patient/a', 'Patient/a']];
    const interactions = ['read', 'create', 'search-type', 'delete', 'operation'] as const;
    const events: AuditEvent[] = [];
    let i = 0;
    for (const who of whos) {
      for (const ip of ips) {
        for (const what of whats) {
          const interaction = interactions[i++ % interactions.length];
          const clientId = [undefined, 'c1', long, 'Ünïcode'][i % 4];
          events.push(
            restAuditEvent({
              interaction,
              actor: { who: who as AuditEvent['agent'][number]['who'] as never, clientId, ip },
              status: [200, 201, 404, 500][i % 4],
              what,
              query: interaction === 'search-type' ? 'Patient?name=x' : undefined,
              description: i % 3 === 0 ? 'something' : undefined,
            }),
          );
        }
      }
      for (const email of ['a@example.org', 'Émile@Example.ORG', `${long}@x`]) {
        events.push(loginAuditEvent({ email, actor: { ip: '10.0.0.2', who: who as never }, success: i++ % 2 === 0, reason: 'x' }));
      }
    }
    // Shapes the direct path must decline (buildIndexRows decides them).
    const declined: AuditEvent[] = [
      { ...events[0], recorded: '2026-01-02T03:04:05Z' },
      { ...events[0], meta: { tag: [{ system: 's', code: 'c' }] } },
      { ...events[0], agent: [...events[0].agent, ...events[0].agent] },
      { ...events[0], action: ' R' as never },
      { ...events[0], source: { observer: { reference: 'Device/d' } } },
      { ...events[0], agent: [{ ...events[0].agent[0], who: { reference: 'http://other/Patient/1' } }] },
      { ...events[0], entity: [{ what: { reference: 'Patient/a' } }, { what: { reference: 'Patient/b' } }] },
      { ...events[0], agent: [{ ...events[0].agent[0], who: { reference: 'Patient/a' } }], entity: [{ what: { reference: 'Patient/b' } }] },
    ];
    let fitted = 0;
    for (const event of events) {
      const stamped = { ...event, id: 'e1', meta: { versionId: 'v', lastUpdated: event.recorded } };
      const direct = directCompactRow(stamped);
      // Both undefined for an event about two patients (the agent and the entity): it does not fit.
      expect(direct, JSON.stringify(event)).toEqual(compactRow(buildIndexRows(stamped)));
      if (direct) fitted++;
    }
    expect(events.length).toBeGreaterThan(60);
    expect(fitted).toBeGreaterThan(events.length * 0.8);
    for (const event of declined) {
      expect(directCompactRow(event), JSON.stringify(event)).toBeUndefined();
    }
  });
});

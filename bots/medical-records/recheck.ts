/**
 * Orders come after arrival: a MedicationRequest that becomes active for a patient with an open
 * ED encounter is checked against the allergies and the other active orders at once. Only alerts
 * that involve the new order are raised (the step raised the others).
 */
import type { MedplumClient } from '@medplum/core';
import type { AllergyIntolerance, Medication, MedicationRequest, Resource } from '@medplum/fhirtypes';
import { findAlerts } from './alerts.ts';
import { defaultDrugTable } from './drugs.ts';
import { raiseAlerts } from './raise.ts';
import { alertLines } from './step.ts';

const OPEN_ENCOUNTER = 'planned,arrived,triaged,in-progress,onleave';

export async function recheckOrder(medplum: MedplumClient, order: MedicationRequest): Promise<unknown> {
  const patient = order.subject?.reference;
  if (!order.id || !patient?.startsWith('Patient/')) {
    return { skipped: 'the order has no patient' };
  }
  const [encounters, allergies, found] = await Promise.all([
    medplum.searchResources(
      'Encounter',
      { subject: patient, class: 'EMER', status: OPEN_ENCOUNTER, _count: '5', _sort: '-_lastUpdated' },
      { cache: 'no-cache' },
    ),
    medplum.searchResources('AllergyIntolerance', { patient, _count: '500' }, { cache: 'no-cache' }),
    medplum.search(
      'MedicationRequest',
      { subject: patient, status: 'active,on-hold', _include: 'MedicationRequest:medication', _count: '500' },
      { cache: 'no-cache' },
    ),
  ]);
  if (encounters.length === 0) {
    return { skipped: `${patient} has no open emergency encounter` };
  }
  const resources = (found.entry ?? []).map((e) => e.resource as Resource | undefined);
  const orders = resources.filter((r): r is MedicationRequest => r?.resourceType === 'MedicationRequest');
  // The delivered version is the one to judge, even if the search index lags behind it.
  const all = [...orders.filter((o) => o.id !== order.id), order];
  const medications = new Map(
    resources.filter((r): r is Medication => r?.resourceType === 'Medication').map((m) => [`Medication/${m.id}`, m]),
  );
  const focus = `MedicationRequest/${order.id}`;
  const alerts = findAlerts({ allergies: allergies as AllergyIntolerance[], orders: all, medications, focus }, defaultDrugTable());
  const raised = await raiseAlerts(medplum, alerts, {
    patient: { reference: patient },
    encounter: { reference: `Encounter/${encounters[0].id}` },
    now: new Date().toISOString(),
    orders: new Map(all.map((o) => [`MedicationRequest/${o.id}`, o])),
  });
  console.log(raised.length ? alertLines(raised).join('\n') : `${focus}: no alert`);
  return {
    order: focus,
    alerts: raised.map((r) => ({ issue: r.issue, kind: r.alert.kind, severity: r.alert.severity, created: r.created })),
  };
}

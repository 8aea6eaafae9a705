// Resources a load phase picks from: a random sample of what a benchmark database holds.
import type { Observation, Patient } from '@medplum/fhirtypes';
import { MRN_SYSTEM } from './data.ts';
import { withClient } from './pg.ts';

export interface PatientRef {
  id: string;
  mrn: string;
  family: string;
}

export interface ObservationRef {
  id: string;
  subject: string;
  code: string;
}

/** Up to `limit` live Patients, in random order; ids starting with `excludePrefix` are left out. */
export async function samplePatients(url: string, limit: number, excludePrefix?: string): Promise<PatientRef[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ id: string; content: string }>(
      `SELECT id, content FROM resource WHERE resource_type = 'Patient' AND NOT deleted AND ($2::text IS NULL OR NOT starts_with(id, $2))
       ORDER BY random() LIMIT $1`,
      [limit, excludePrefix ?? null],
    );
    return rows.map((r) => {
      const p = JSON.parse(r.content) as Patient;
      const mrn = p.identifier?.find((i) => i.system === MRN_SYSTEM)?.value ?? '';
      return { id: r.id, mrn, family: p.name?.[0]?.family ?? '' };
    });
  });
}

/** Up to `limit` live Observations, in random order. */
export async function sampleObservations(url: string, limit: number): Promise<ObservationRef[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ id: string; content: string }>(
      `SELECT id, content FROM resource WHERE resource_type = 'Observation' AND NOT deleted ORDER BY random() LIMIT $1`,
      [limit],
    );
    return rows.map((r) => {
      const o = JSON.parse(r.content) as Observation;
      return { id: r.id, subject: o.subject?.reference ?? '', code: o.code?.coding?.[0]?.code ?? '' };
    });
  });
}

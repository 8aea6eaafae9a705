// The deterministic 1M-resource dataset of the search benchmark: resource k is always the same.
import type { Observation, Patient } from '@medplum/fhirtypes';
import { makeObservation, makePatient, rng, seedOf, uuidFrom } from './data.ts';

export interface DatasetShape {
  total: number;
  patients: number;
  observations: number;
}

/** 20% Patients, 80% Observations (about four per patient). */
export function datasetShape(total: number): DatasetShape {
  const patients = Math.max(1, Math.round(total * 0.2));
  return { total, patients, observations: total - patients };
}

export const patientId = (i: number): string => uuidFrom(rng(seedOf(10, i)));
export const observationId = (j: number): string => uuidFrom(rng(seedOf(11, j)));
/** Which patient observation `j` is about (uniformly spread). */
export const observationPatient = (j: number, shape: DatasetShape): number => Math.floor(rng(seedOf(12, j))() * shape.patients);

const LAST_UPDATED_BASE = Date.UTC(2025, 0, 1);

function meta(k: number): { versionId: string; lastUpdated: string } {
  return { versionId: uuidFrom(rng(seedOf(13, k))), lastUpdated: new Date(LAST_UPDATED_BASE + k * 7_000).toISOString() };
}

/** Resource number `k` of the dataset as the server would have stored it (id and meta stamped). */
export function storedResource(k: number, shape: DatasetShape): Patient | Observation {
  if (k < shape.patients) {
    // Same key order as PostgresRepository.stamp: resource fields, then id, then meta.
    return { ...makePatient(k), id: patientId(k), meta: meta(k) };
  }
  const j = k - shape.patients;
  return { ...makeObservation(j, patientId(observationPatient(j, shape))), id: observationId(j), meta: meta(k) };
}

export interface BatchRange {
  resourceType: 'Patient' | 'Observation';
  start: number;
  end: number;
}

/** The dataset cut into single-type batches of at most `size` resources. */
export function batches(shape: DatasetShape, size: number): BatchRange[] {
  const out: BatchRange[] = [];
  for (let s = 0; s < shape.patients; s += size) out.push({ resourceType: 'Patient', start: s, end: Math.min(s + size, shape.patients) });
  for (let s = shape.patients; s < shape.total; s += size)
    out.push({ resourceType: 'Observation', start: s, end: Math.min(s + size, shape.total) });
  return out;
}

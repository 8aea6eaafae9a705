import type { Observation } from '@medplum/fhirtypes';
import { LOINC, VITALS } from '../codes.ts';

export interface VitalPoint {
  time: number;
  value: number;
  device: boolean;
}

/** Vital-sign series per LOINC code, panels (e.g. blood pressure 85354-9) split into their components. */
export function vitalSeries(observations: Observation[]): Map<string, VitalPoint[]> {
  const wanted = new Set(VITALS.map((v) => v.code));
  wanted.add('2708-6');
  const series = new Map<string, VitalPoint[]>();
  const add = (code: string | undefined, value: number | undefined, obs: Observation) => {
    if (!code || value === undefined || !wanted.has(code)) return;
    const key = code === '2708-6' ? '59408-5' : code;
    const time = Date.parse(obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.issued ?? '');
    if (Number.isNaN(time)) return;
    const list = series.get(key) ?? [];
    list.push({ time, value, device: !!obs.device });
    series.set(key, list);
  };
  for (const obs of observations) {
    const code = obs.code?.coding?.find((c) => c.system === LOINC)?.code;
    add(code, obs.valueQuantity?.value ?? obs.valueInteger, obs);
    for (const c of obs.component ?? []) {
      add(c.code?.coding?.find((x) => x.system === LOINC)?.code, c.valueQuantity?.value ?? c.valueInteger, obs);
    }
  }
  for (const list of series.values()) list.sort((a, b) => a.time - b.time);
  return series;
}

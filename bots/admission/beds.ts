/**
 * Choosing an ED bed by acuity and availability. Beds are `Location`s with physicalType `bd`,
 * `partOf` the ED area, status active, `operationalStatus` (v2-0116: U unoccupied, O occupied,
 * C closed, H housekeeping, K contaminated, I isolated) and a zone in `type`
 * (ES/CodeSystem/bed-zone: resus, acute, fast-track; none = acute). Pure.
 */
import type { Location } from '@medplum/fhirtypes';
import { BED_STATUS_SYSTEM, BED_ZONE_SYSTEM, LOCATION_PHYSICAL_TYPE_SYSTEM } from './codes.ts';

export type BedZone = 'resus' | 'acute' | 'fast-track';

/** Where each ESI level goes first, then where it may overflow. Sicker patients never go to fast track. */
export const ZONE_PREFERENCE: Record<number, BedZone[]> = {
  1: ['resus', 'acute'],
  2: ['resus', 'acute'],
  3: ['acute', 'resus'],
  4: ['fast-track', 'acute'],
  5: ['fast-track', 'acute'],
};
/** Without an acuity yet (triage failed or was skipped), treat the patient as ESI 3. */
export const DEFAULT_ESI = 3;

export function isBed(location: Location): boolean {
  return !!location.physicalType?.coding?.some((c) => c.system === LOCATION_PHYSICAL_TYPE_SYSTEM && c.code === 'bd');
}

export function zoneOf(bed: Location): BedZone {
  const code = bed.type?.flatMap((t) => t.coding ?? []).find((c) => c.system === BED_ZONE_SYSTEM)?.code;
  return code === 'resus' || code === 'fast-track' ? code : 'acute';
}

export function bedStatus(bed: Location): string | undefined {
  return bed.operationalStatus?.system === BED_STATUS_SYSTEM || !bed.operationalStatus?.system ? bed.operationalStatus?.code : undefined;
}

export function isAvailable(bed: Location): boolean {
  return bed.status === 'active' && isBed(bed) && (bedStatus(bed) ?? 'U') === 'U';
}

export interface BedChoice<T extends Location> {
  bed?: T;
  reason: string;
}

/** The first free bed of the best zone for the acuity (beds by name within a zone, for a stable board). */
export function chooseBed<T extends Location>(beds: T[], esi: number | undefined, exclude: ReadonlySet<string> = new Set()): BedChoice<T> {
  const level = esi && ZONE_PREFERENCE[esi] ? esi : DEFAULT_ESI;
  const acuity = esi ? `ESI ${esi}` : `no acuity yet (treated as ESI ${DEFAULT_ESI})`;
  const free = beds.filter((b) => isAvailable(b) && !exclude.has(b.id ?? ''));
  const zones = ZONE_PREFERENCE[level];
  for (const [i, zone] of zones.entries()) {
    const bed = free
      .filter((b) => zoneOf(b) === zone)
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '', 'en', { numeric: true }))[0];
    if (bed) {
      return { bed, reason: `${acuity} → ${zone} bed ${bed.name ?? bed.id}${i > 0 ? ` (no free ${zones[0]} bed)` : ''}` };
    }
  }
  return {
    reason: `${acuity}: no free ${zones.join(' or ')} bed (${free.length} free bed${free.length === 1 ? '' : 's'} elsewhere); the patient waits for one`,
  };
}

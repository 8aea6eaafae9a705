/**
 * Choosing an ED bed by acuity and availability. Beds are `Location`s with physicalType `bd`,
 * `partOf` the ED area, status active, `operationalStatus` (v2-0116: U unoccupied, O occupied,
 * C closed, H housekeeping, K contaminated, I isolated) and a zone: `type`
 * ES/CodeSystem/bed-zone (resus, acute, fast-track) on the bed or its area, else the area's name
 * ("ED Resus", "ED Fast track" as in seed/ed.json); none = acute. Pure.
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

function zoneCode(location: Location | undefined): BedZone | undefined {
  const code = location?.type?.flatMap((t) => t.coding ?? []).find((c) => c.system === BED_ZONE_SYSTEM)?.code;
  return code === 'resus' || code === 'acute' || code === 'fast-track' ? code : undefined;
}

/** A zone area named or identified like one ("ED Resus", `ed-fast-track`), as the seed has them. */
function zoneByName(area: Location | undefined): BedZone | undefined {
  const words = [area?.name, ...(area?.identifier ?? []).map((i) => i.value)].filter(Boolean).join(' ').toLowerCase();
  if (/resus/.test(words)) return 'resus';
  if (/fast[\s-]?track/.test(words)) return 'fast-track';
  return undefined;
}

/** The bed's zone: its own `type`, else its area's (`partOf`) type or name; acute when nothing says. */
export function zoneOf(bed: Location, areas: ReadonlyMap<string, Location> = new Map()): BedZone {
  const area = bed.partOf?.reference ? areas.get(bed.partOf.reference) : undefined;
  return zoneCode(bed) ?? zoneCode(area) ?? zoneByName(area) ?? 'acute';
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
export function chooseBed<T extends Location>(
  beds: T[],
  esi: number | undefined,
  exclude: ReadonlySet<string> = new Set(),
  areas: ReadonlyMap<string, Location> = new Map(),
): BedChoice<T> {
  const level = esi && ZONE_PREFERENCE[esi] ? esi : DEFAULT_ESI;
  const acuity = esi ? `ESI ${esi}` : `no acuity yet (treated as ESI ${DEFAULT_ESI})`;
  const free = beds.filter((b) => isAvailable(b) && !exclude.has(b.id ?? ''));
  const zones = ZONE_PREFERENCE[level];
  for (const [i, zone] of zones.entries()) {
    const bed = free
      .filter((b) => zoneOf(b, areas) === zone)
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '', 'en', { numeric: true }))[0];
    if (bed) {
      return { bed, reason: `${acuity} → ${zone} bed ${bed.name ?? bed.id}${i > 0 ? ` (no free ${zones[0]} bed)` : ''}` };
    }
  }
  return {
    reason: `${acuity}: no free ${zones.join(' or ')} bed (${free.length} free bed${free.length === 1 ? '' : 's'} elsewhere); the patient waits for one`,
  };
}

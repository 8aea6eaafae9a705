/**
 * What a visit costs: the charge catalog (ChargeItemDefinitions) applied to what was done. Pure.
 *
 * - The ED evaluation-and-management level (CPT 99281–99285) follows acuity and the resources the
 *   visit used, the way ESI counts them (labs count once however many; each imaging modality, an
 *   ECG, IV medication and a procedure each count; venipuncture, splinting and supplies do not):
 *   the level is the higher of the acuity floor (ESI 1–2 → 5, ESI 3 → 3, ESI 4 → 2, ESI 5 → 1)
 *   and the resource level (none → 1, one → 3, two or more → 4).
 * - A clinic (non-emergency) visit is 99203 for a new patient, else 99213.
 * - Every procedure, lab result, imaging report and used supply whose code (CPT, LOINC or SNOMED)
 *   appears in a catalog entry's `code.coding` becomes one line at the catalog's price.
 */
import type { ChargeItemDefinition, Coding } from '@medplum/fhirtypes';
import { type Cents, format, toCents } from './money.ts';

export const CHARGE_CATEGORY_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/charge-category';
export const CPT = 'http://www.ama-assn.org/go/cpt';

export type ChargeCategory = 'evaluation-management' | 'procedure' | 'imaging' | 'laboratory' | 'supply';

export interface CatalogEntry {
  url: string;
  code: string;
  codeSystem: string;
  display: string;
  category: ChargeCategory;
  price: Cents;
  codings: Coding[];
}

/** A service the visit received, as found in the record. */
export interface ServiceDone {
  /** The record that shows it, e.g. "Procedure/12". */
  source: string;
  codings: Coding[];
  quantity?: number;
}

export interface VisitFacts {
  emergency: boolean;
  /** ESI level when triaged. */
  esi?: number;
  /** For clinic visits: the patient has no earlier visit. */
  newPatient?: boolean;
  services: ServiceDone[];
}

export interface ChargeLine {
  /** Stable per visit: the source record, or "em" for the visit level. */
  key: string;
  entry: CatalogEntry;
  quantity: number;
  unitPrice: Cents;
  total: Cents;
  source?: string;
  reason: string;
}

/** Codes that ESI does not count as resources. */
const NOT_ESI_RESOURCES = new Set(['36415', '29125']);

export function catalogFrom(definitions: ChargeItemDefinition[]): CatalogEntry[] {
  return definitions
    .filter((d) => d.status === 'active' && d.url)
    .map((d) => {
      const primary = d.code?.coding?.[0];
      const price = d.propertyGroup?.[0]?.priceComponent?.find((p) => p.type === 'base')?.amount?.value;
      const category = d.useContext?.flatMap((u) => u.valueCodeableConcept?.coding ?? []).find((c) => c.system === CHARGE_CATEGORY_SYSTEM)
        ?.code as ChargeCategory | undefined;
      return {
        url: d.url as string,
        code: primary?.code ?? '',
        codeSystem: primary?.system ?? CPT,
        display: d.title ?? primary?.display ?? primary?.code ?? '',
        category: category ?? 'procedure',
        price: toCents(price),
        codings: d.code?.coding ?? [],
      };
    })
    .filter((e) => e.code);
}

function sameCode(a: Coding, b: Coding): boolean {
  return !!a.code && a.code === b.code && (a.system ?? '') === (b.system ?? '');
}

export function findEntry(catalog: CatalogEntry[], codings: Coding[]): CatalogEntry | undefined {
  return catalog.find((e) => e.codings.some((c) => codings.some((d) => sameCode(c, d))));
}

/** The ESI resource kind of a catalog entry, or undefined when it does not count. */
function resourceKind(entry: CatalogEntry): string | undefined {
  if (entry.category === 'supply' || entry.category === 'evaluation-management' || NOT_ESI_RESOURCES.has(entry.code)) return undefined;
  if (entry.category === 'laboratory') return 'laboratory';
  return `${entry.category}:${entry.code}`;
}

export interface EmLevel {
  code: string;
  level: number;
  reason: string;
}

const ACUITY_FLOOR: Record<number, number> = { 1: 5, 2: 5, 3: 3, 4: 2, 5: 1 };

export function emLevel(esi: number | undefined, resources: string[]): EmLevel {
  const floor = esi ? (ACUITY_FLOOR[esi] ?? 1) : 1;
  const byResources = resources.length >= 2 ? 4 : resources.length === 1 ? 3 : 1;
  const level = Math.max(floor, byResources);
  const acuity = esi ? `ESI ${esi} (at least level ${floor})` : 'no ESI level recorded';
  const used = resources.length ? `${resources.length} resource(s): ${resources.join(', ')}` : 'no resources';
  return { code: `9928${level}`, level, reason: `ED visit level ${level}: ${acuity}; ${used} (level ${byResources})` };
}

export interface ChargeResult {
  lines: ChargeLine[];
  /** Records that matched no catalog entry (not charged; listed in the rationale). */
  unmatched: string[];
}

export function chargeLines(facts: VisitFacts, catalog: CatalogEntry[]): ChargeResult {
  const lines: ChargeLine[] = [];
  const unmatched: string[] = [];
  for (const service of facts.services) {
    const entry = findEntry(catalog, service.codings);
    if (!entry) {
      unmatched.push(service.source);
      continue;
    }
    const quantity = service.quantity && service.quantity > 0 ? Math.round(service.quantity) : 1;
    lines.push({
      key: service.source,
      entry,
      quantity,
      unitPrice: entry.price,
      total: entry.price * quantity,
      source: service.source,
      reason: `${entry.display} (${entry.code}) from ${service.source}: ${quantity} × ${format(entry.price)}`,
    });
  }
  let em: EmLevel;
  if (facts.emergency) {
    const resources = [...new Set(lines.map((l) => resourceKind(l.entry)).filter((k): k is string => !!k))];
    em = emLevel(facts.esi, resources);
  } else {
    em = facts.newPatient
      ? { code: '99203', level: 3, reason: 'clinic visit, new patient' }
      : { code: '99213', level: 3, reason: 'clinic visit, established patient' };
  }
  const emEntry = catalog.find((e) => e.code === em.code);
  if (emEntry) {
    lines.unshift({
      key: 'em',
      entry: emEntry,
      quantity: 1,
      unitPrice: emEntry.price,
      total: emEntry.price,
      reason: `${emEntry.display} (${emEntry.code}): ${em.reason}; ${format(emEntry.price)}`,
    });
  } else {
    unmatched.unshift(`visit level ${em.code} (not in the catalog)`);
  }
  return { lines, unmatched };
}

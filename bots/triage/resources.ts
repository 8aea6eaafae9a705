/**
 * ESI decision point C: how many different resource *types* the patient is expected to need.
 * The complaint table lists expected interventions and tests; each maps to a resource type (or to
 * none: point-of-care tests, oral medication, splints...). Types are counted once however many tests
 * need them (CBC + electrolytes = 1 labs), and a complex procedure counts two.
 */
import type { ComplaintMatch, ComplaintTable } from './complaints.ts';

export interface ResourceTypeUse {
  type: string;
  display: string;
  counts: number;
  /** The expected items that need this type, e.g. ["CBC", "troponin"]. */
  items: string[];
}

export interface ResourcePrediction {
  types: ResourceTypeUse[];
  /** Sum of counts (a complex procedure is 2). */
  count: number;
  /** Expected items that ESI does not count, with the reason. */
  excluded: { item: string; why: string }[];
  /** No complaint recognised: the count cannot be predicted. */
  unknown: boolean;
}

export function predictResources(matches: ComplaintMatch[], table: ComplaintTable, ageYears?: number): ResourcePrediction {
  const pediatric = ageYears !== undefined && ageYears < 18;
  const byType = new Map<string, ResourceTypeUse>();
  const excluded = new Map<string, string>();
  for (const m of matches) {
    const items = pediatric && m.entry.pediatricItems ? m.entry.pediatricItems : m.entry.items;
    for (const key of items) {
      const item = table.items[key];
      const type = item ? item.resource : key;
      const display = item?.display ?? table.resourceTypes[key]?.display ?? key;
      if (type === null) {
        excluded.set(display, item?.why ?? 'not a resource');
        continue;
      }
      const rt = table.resourceTypes[type];
      const use = byType.get(type) ?? { type, display: rt.display, counts: rt.counts, items: [] };
      if (!use.items.includes(display)) use.items.push(display);
      byType.set(type, use);
    }
  }
  const types = [...byType.values()];
  return {
    types,
    count: types.reduce((n, t) => n + t.counts, 0),
    excluded: [...excluded].map(([item, why]) => ({ item, why })),
    unknown: matches.length === 0,
  };
}

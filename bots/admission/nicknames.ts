/** Whether two given names are the same person's (formal name, nickname, or the name in another language). Pure. */
import table from './nicknames.json' with { type: 'json' };

export type NicknameIndex = ReadonlyMap<string, ReadonlySet<number>>;

export function nicknameIndex(groups: string[][] = table.groups): NicknameIndex {
  const index = new Map<string, Set<number>>();
  groups.forEach((group, i) => {
    for (const name of group) {
      const set = index.get(name) ?? new Set<number>();
      set.add(i);
      index.set(name, set);
    }
  });
  return index;
}

const DEFAULT_INDEX = nicknameIndex();

/** True when `a` and `b` (normalised given names) are different forms of one name, e.g. "bill" and "william". */
export function areNicknames(a: string, b: string, index: NicknameIndex = DEFAULT_INDEX): boolean {
  if (a === b) return false;
  const ga = index.get(a);
  const gb = index.get(b);
  if (!ga || !gb) return false;
  for (const g of ga) if (gb.has(g)) return true;
  return false;
}

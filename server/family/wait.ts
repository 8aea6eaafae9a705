/** One waiting patient, as the wait estimate sees them: no identity, only arrival and acuity. */
export interface QueueEntry {
  /** Arrival (Encounter.period.start), epoch ms. */
  arrived: number;
  /** ESI 1 (most urgent) … 5; undefined while not triaged (counted as 3, the median level). */
  acuity?: number;
}

/** A recent visit whose first provider has been assigned. */
export interface ProviderPickup {
  arrived: number;
  /** The first provider's period.start, epoch ms. */
  seen: number;
  acuity?: number;
}

export interface WaitEstimate {
  /** Minutes until a provider is expected, rounded up to 5; undefined when there is no basis yet. */
  minutes?: number;
  /** Waiting patients who will be seen first (same or higher acuity, earlier arrival for the same). */
  ahead: number;
  /** How the minutes were found: the department's recent pace, recent door-to-provider times, or nothing. */
  basis: 'throughput' | 'door-to-provider' | 'none';
}

/** The window of recent pickups the pace is measured over. */
export const PACE_WINDOW_MS = 2 * 3600_000;
const UNTRIAGED = 3;

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const roundUp5 = (minutes: number) => Math.max(0, Math.ceil(minutes / 5) * 5);

/**
 * The expected wait of `me` for a provider, from the department's actual queue. Patients ahead are
 * those waiting with a more urgent acuity, or the same acuity and an earlier arrival. With at least
 * two providers' pickups in the last two hours, the wait is (ahead + 1) × the mean interval between
 * pickups; otherwise the median door-to-provider time of recent visits of the same acuity (any
 * acuity if none), less the time already waited. With neither, no number: the page says so rather
 * than guess.
 */
export function expectedWait(me: QueueEntry, waiting: QueueEntry[], recent: ProviderPickup[], now: number): WaitEstimate {
  const mine = me.acuity ?? UNTRIAGED;
  const ahead = waiting.filter((o) => {
    const theirs = o.acuity ?? UNTRIAGED;
    return theirs < mine || (theirs === mine && o.arrived < me.arrived);
  }).length;
  const inWindow = recent.filter((r) => r.seen <= now && r.seen > now - PACE_WINDOW_MS);
  if (inWindow.length >= 2) {
    const perPatient = PACE_WINDOW_MS / 60_000 / inWindow.length;
    return { minutes: roundUp5((ahead + 1) * perPatient), ahead, basis: 'throughput' };
  }
  const doorToProvider = (rs: ProviderPickup[]) => median(rs.map((r) => r.seen - r.arrived).filter((d) => d >= 0));
  const sameAcuity = doorToProvider(recent.filter((r) => (r.acuity ?? UNTRIAGED) === mine));
  const typical = sameAcuity ?? doorToProvider(recent);
  if (typical === undefined) {
    return { ahead, basis: 'none' };
  }
  return { minutes: roundUp5((typical - (now - me.arrived)) / 60_000), ahead, basis: 'door-to-provider' };
}

/**
 * All of the bridge's counters and latency distributions, in one place: the JSON endpoint reads
 * `snapshot()`, and a Prometheus exporter can read the same counters and cumulative buckets.
 */

const BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];
const SAMPLES = 10_000;

export class Histogram {
  count = 0;
  sum = 0;
  readonly buckets = new Array<number>(BUCKETS_MS.length + 1).fill(0);
  private readonly recent: number[] = [];
  private next = 0;

  observe(ms: number): void {
    this.count++;
    this.sum += ms;
    const i = BUCKETS_MS.findIndex((b) => ms <= b);
    this.buckets[i < 0 ? BUCKETS_MS.length : i]++;
    if (this.recent.length < SAMPLES) this.recent.push(ms);
    else this.recent[this.next++ % SAMPLES] = ms;
  }

  /** Percentile over the most recent samples. */
  percentile(p: number): number | null {
    if (this.recent.length === 0) return null;
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }

  toJSON(): Record<string, unknown> {
    const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
    return {
      count: this.count,
      meanMs: this.count ? round(this.sum / this.count) : null,
      p50Ms: round(this.percentile(50)),
      p99Ms: round(this.percentile(99)),
      maxMs: this.recent.length ? round(Math.max(...this.recent)) : null,
      buckets: Object.fromEntries([...BUCKETS_MS.map((b, i) => [`le_${b}`, this.buckets[i]]), ['le_inf', this.buckets[BUCKETS_MS.length]]]),
    };
  }
}

export const COUNTERS = [
  'framesReceived',
  'messagesReceived',
  'ackAA',
  'ackAE',
  'ackAR',
  'duplicates',
  'storeFailures',
  'converted',
  'conversionErrors',
  'conversionRetries',
  'outboundQueued',
  'outboundSent',
  'outboundNegativeAcks',
  'outboundTimeouts',
  'outboundConnectionErrors',
  'outboundDeadLetters',
] as const;
export type Counter = (typeof COUNTERS)[number];

export type Latency = 'ack' | 'conversion' | 'conversionBatch' | 'outboundDelivery';

export class Metrics {
  readonly started = Date.now();
  readonly counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;
  readonly latency: Record<Latency, Histogram> = {
    ack: new Histogram(),
    conversion: new Histogram(),
    conversionBatch: new Histogram(),
    outboundDelivery: new Histogram(),
  };

  /** Inbound messages by `messageType|ackCode` (e.g. `ADT^A04|AA`), for the Prometheus exporter. */
  readonly messagesByType = new Map<string, number>();

  countMessage(messageType: string, ackCode: string): void {
    const key = `${messageType || 'unknown'}|${ackCode || 'none'}`;
    this.messagesByType.set(key, (this.messagesByType.get(key) ?? 0) + 1);
  }

  inc(counter: Counter, n = 1): void {
    this.counters[counter] += n;
  }

  observe(latency: Latency, ms: number): void {
    this.latency[latency].observe(ms);
  }

  snapshot(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      counters: { ...this.counters },
      latency: Object.fromEntries(Object.entries(this.latency).map(([k, h]) => [k, h.toJSON()])),
      ...extra,
    };
  }
}

import { Operator } from '@medplum/core';
import type { AuditEvent, Bot, Subscription } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { PostgresRepository } from '../fhir/repo.ts';

/** Executions read per bot and window; the rates and p95 of a busier bot are over its newest ones. */
const MAX_EVENTS = 5_000;
const PAGE = 1_000;

export interface AgentHealth {
  bot: string;
  name?: string;
  identifier?: string;
  deployed: { version?: string; code?: string; at?: string } | null;
  lastExecution: { at: string; outcome: 'success' | 'failure' } | null;
  lastHour: {
    executions: number;
    failures: number;
    /** Successful share of the executions, null without executions. */
    successRate: number | null;
    p95DurationMs: number | null;
    /** True when the bot ran more often than counted (MAX_EVENTS). */
    truncated: boolean;
  };
  subscriptions: { active: number; backlog: number; oldestPendingSeconds: number | null; deadLetters: number };
}

export interface AgentsReport {
  generatedAt: string;
  windowSeconds: number;
  agents: AgentHealth[];
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function durationMs(event: AuditEvent): number | undefined {
  // $execute records `durationMs`; a subscription delivery to the bot records `duration-ms`.
  for (const e of event.entity ?? []) {
    const d = e.detail?.find((x) => x.type === 'durationMs' || x.type === 'duration-ms')?.valueString;
    if (d !== undefined && Number.isFinite(Number(d))) return Number(d);
  }
  const { start, end } = event.period ?? {};
  return start && end ? Date.parse(end) - Date.parse(start) : undefined;
}

/** The bot's execution AuditEvents recorded since `since`, newest first (via FHIR search, whatever stores them). */
async function executions(repo: PostgresRepository, bot: string, since: Date): Promise<{ events: AuditEvent[]; truncated: boolean }> {
  const events: AuditEvent[] = [];
  for (let offset = 0; offset < MAX_EVENTS; offset += PAGE) {
    const bundle = await repo.search<AuditEvent>({
      resourceType: 'AuditEvent',
      filters: [
        { code: 'entity', operator: Operator.EQUALS, value: bot },
        { code: 'type', operator: Operator.EQUALS, value: 'https://medplum.com/CodeSystem/audit-event-type|execute' },
        { code: 'date', operator: Operator.GREATER_THAN_OR_EQUALS, value: since.toISOString() },
      ],
      sortRules: [{ code: 'date', descending: true }],
      count: PAGE,
      offset,
    });
    const page = (bundle.entry ?? []).map((e) => e.resource as AuditEvent);
    events.push(...page);
    if (page.length < PAGE) return { events, truncated: false };
  }
  return { events, truncated: true };
}

/**
 * The agent health report: for every Bot, what is deployed, when it last ran, its success rate and
 * p95 duration over the last hour (from the execution AuditEvents every instance records, so the
 * numbers are cluster-wide), and the backlog and dead letters of the Subscriptions that feed it.
 */
export async function agentsReport(repo: PostgresRepository, pool: pg.Pool, now = new Date()): Promise<AgentsReport> {
  const windowSeconds = 3600;
  const since = new Date(now.getTime() - windowSeconds * 1000);
  const bots = await repo.searchResources<Bot>({ resourceType: 'Bot', count: 1000 });
  const subs = await repo.searchResources<Subscription>({
    resourceType: 'Subscription',
    count: 1000,
  });
  const subsByBot = new Map<string, Subscription[]>();
  for (const s of subs) {
    const endpoint = s.channel?.endpoint;
    if (!endpoint?.startsWith('Bot/')) continue;
    subsByBot.set(endpoint, [...(subsByBot.get(endpoint) ?? []), s]);
  }
  const { rows: queue } = await pool.query<{ subscription_id: string; pending: number; dead: number; oldest: number | null }>(
    `SELECT subscription_id,
       count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'dead')::int AS dead,
       extract(epoch FROM clock_timestamp() - min(created_at) FILTER (WHERE status = 'pending'))::float8 AS oldest
     FROM subscription_delivery WHERE status IN ('pending', 'dead') GROUP BY subscription_id`,
  );
  const queueBySub = new Map(queue.map((q) => [q.subscription_id, q]));

  const agents: AgentHealth[] = [];
  for (const bot of bots) {
    const ref = `Bot/${bot.id}`;
    const { events, truncated } = await executions(repo, ref, since);
    const failures = events.filter((e) => e.outcome !== '0').length;
    const durations = events
      .map(durationMs)
      .filter((d): d is number => d !== undefined)
      .sort((a, b) => a - b);
    let last = events[0];
    if (!last) {
      // Quiet for an hour: the newest execution ever, if any.
      const bundle = await repo.search<AuditEvent>({
        resourceType: 'AuditEvent',
        filters: [
          { code: 'entity', operator: Operator.EQUALS, value: ref },
          { code: 'type', operator: Operator.EQUALS, value: 'https://medplum.com/CodeSystem/audit-event-type|execute' },
        ],
        sortRules: [{ code: 'date', descending: true }],
        count: 1,
      });
      last = bundle.entry?.[0]?.resource as AuditEvent;
    }
    const feeding = (subsByBot.get(ref) ?? []).filter((s) => s.status === 'active');
    const rows = (subsByBot.get(ref) ?? []).map((s) => queueBySub.get(s.id as string)).filter((q) => q !== undefined);
    const oldest = rows.map((q) => q.oldest).filter((o): o is number => o !== null);
    agents.push({
      bot: ref,
      name: bot.name,
      identifier: bot.identifier?.[0]?.value,
      deployed: bot.executableCode?.url ? { version: bot.meta?.versionId, code: bot.executableCode.url, at: bot.meta?.lastUpdated } : null,
      lastExecution: last ? { at: last.period?.end ?? last.recorded ?? '', outcome: last.outcome === '0' ? 'success' : 'failure' } : null,
      lastHour: {
        executions: events.length,
        failures,
        successRate: events.length ? Math.round(((events.length - failures) / events.length) * 10_000) / 10_000 : null,
        p95DurationMs: percentile(durations, 95),
        truncated,
      },
      subscriptions: {
        active: feeding.length,
        backlog: rows.reduce((n, q) => n + q.pending, 0),
        oldestPendingSeconds: oldest.length ? Math.round(Math.max(...oldest) * 10) / 10 : null,
        deadLetters: rows.reduce((n, q) => n + q.dead, 0),
      },
    });
  }
  agents.sort((a, b) => (a.name ?? a.bot).localeCompare(b.name ?? b.bot));
  return { generatedAt: now.toISOString(), windowSeconds, agents };
}

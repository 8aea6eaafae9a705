import { randomUUID } from 'node:crypto';
import { normalizeErrorString } from '@medplum/core';
import type { Bot, Timing } from '@medplum/fhirtypes';
import { CronExpressionParser } from 'cron-parser';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { BotExecutor } from './runtime.ts';

/** Longest a timer is set for; a later tick is re-planned when it fires (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 3_600_000;
/** Claims of past ticks are kept this long (they only need to outlive clock skew between instances). */
const CLAIM_RETENTION = '1 day';

const TIMING_UNITS: Record<string, 's' | 'min' | 'h' | 'd'> = { s: 's', min: 'min', h: 'h', d: 'd' };
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * `Bot.cronTiming` as cron expressions (seconds field first), or an error. Supported, as Medplum's
 * bots use it: `repeat.timeOfDay` (each time a run, optionally on `repeat.dayOfWeek`), or a period
 * (`repeat.period` + `periodUnit` s|min|h|d, divided by `repeat.frequency`) that divides its unit's
 * cycle evenly, optionally on `dayOfWeek`.
 */
export function timingToCron(timing: Timing): string[] {
  const repeat = timing.repeat;
  if (!repeat) throw new Error('cronTiming needs a repeat');
  const dow = repeat.dayOfWeek?.length ? repeat.dayOfWeek.map((d) => DAYS.indexOf(d)).join(',') : '*';
  if (repeat.timeOfDay?.length) {
    return repeat.timeOfDay.map((t) => {
      const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(t);
      if (!m) throw new Error(`cronTiming timeOfDay "${t}" is not hh:mm:ss`);
      return `${Number(m[3] ?? 0)} ${Number(m[2])} ${Number(m[1])} * * ${dow}`;
    });
  }
  const unit = repeat.periodUnit ? TIMING_UNITS[repeat.periodUnit] : undefined;
  if (!repeat.period || !unit) throw new Error('cronTiming needs repeat.timeOfDay, or repeat.period with periodUnit s, min, h or d');
  const every = repeat.period / (repeat.frequency ?? 1);
  const cycle = { s: 60, min: 60, h: 24, d: 31 }[unit];
  if (!Number.isInteger(every) || every < 1 || (unit !== 'd' && cycle % every !== 0)) {
    throw new Error(`cronTiming every ${every} ${unit} cannot be scheduled (a whole divisor of the ${unit} cycle is needed)`);
  }
  const step = every === 1 ? '*' : `*/${every}`;
  switch (unit) {
    case 's':
      return [`${step} * * * * ${dow}`];
    case 'min':
      return [`0 ${step} * * * ${dow}`];
    case 'h':
      return [`0 0 ${step} * * ${dow}`];
    default:
      return [`0 0 0 ${every === 1 ? '*' : `1/${every}`} * ${dow}`];
  }
}

/** The bot's schedule (cronString wins over cronTiming); [] when it has none; throws when invalid. */
export function botSchedule(bot: Pick<Bot, 'cronString' | 'cronTiming'>): string[] {
  const expressions = bot.cronString?.trim() ? [bot.cronString.trim()] : bot.cronTiming ? timingToCron(bot.cronTiming) : [];
  for (const e of expressions) CronExpressionParser.parse(e, { tz: 'UTC', strict: false });
  return expressions;
}

/** The first tick strictly after `after` of any of the expressions (UTC). */
export function nextTick(expressions: string[], after: Date): Date | undefined {
  let best: Date | undefined;
  for (const e of expressions) {
    const next = CronExpressionParser.parse(e, { tz: 'UTC', currentDate: after }).next().toDate();
    if (!best || next < best) best = next;
  }
  return best;
}

export interface CronSchedulerDeps {
  pool: pg.Pool;
  executor: BotExecutor;
  logger: Logger;
  /** Identifies this instance in the claims. */
  owner: string;
}

interface Planned {
  bot: Bot & { id: string };
  expressions: string[];
  timer?: NodeJS.Timeout;
}

/**
 * Runs bots on their `cronString` / `cronTiming`, like Medplum's cron worker: at each tick the bot
 * runs with itself as input (`application/fhir+json`), and the runtime records an AuditEvent.
 * Every instance plans every tick, and the first to insert the (bot, tick) claim row runs it, so a
 * tick runs once however many instances there are; ticks missed while no instance ran are skipped.
 */
export class CronScheduler {
  private readonly deps: CronSchedulerDeps;
  private readonly planned = new Map<string, Planned>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = true;
  private generation = 0;

  constructor(deps: CronSchedulerDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.deps.pool.query(`DELETE FROM bot_cron_run WHERE claimed_at < clock_timestamp() - interval '${CLAIM_RETENTION}'`);
    await this.reload();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.planned.values()) clearTimeout(p.timer);
    this.planned.clear();
    await Promise.allSettled([...this.running]);
  }

  /** Bots with a schedule, by id. */
  schedules(): Map<string, string[]> {
    return new Map([...this.planned].map(([id, p]) => [id, p.expressions]));
  }

  /** A Bot was written on some instance (`'*'`: anything may have changed): re-plan. */
  botChanged(id: string): void {
    if (this.stopped) return;
    void (id === '*' ? this.reload() : this.reload(id)).catch((err) =>
      this.deps.logger.error({ err, bot: id }, 'could not reload bot schedules'),
    );
  }

  private async reload(id?: string): Promise<void> {
    const generation = ++this.generation;
    const { rows } = await this.deps.pool.query<{ id: string; content: string }>(
      `SELECT id, content FROM resource WHERE resource_type = 'Bot' AND NOT deleted
         AND (content::jsonb ? 'cronString' OR content::jsonb ? 'cronTiming') ${id ? 'AND id = $1' : ''}`,
      id ? [id] : [],
    );
    // A full reload that an individual one overtook still replaces everything: it read later.
    if (this.stopped || (generation !== this.generation && !id)) return;
    const seen = new Set<string>();
    for (const row of rows) {
      const bot = JSON.parse(row.content) as Bot & { id: string };
      seen.add(bot.id);
      let expressions: string[];
      try {
        expressions = botSchedule(bot);
      } catch (err) {
        this.deps.logger.warn({ bot: bot.id, err: normalizeErrorString(err) }, 'bot schedule is invalid; not scheduled');
        expressions = [];
      }
      this.plan(bot, expressions);
    }
    for (const key of [...this.planned.keys()]) {
      if ((id === undefined || key === id) && !seen.has(key)) this.plan(undefined, [], key);
    }
  }

  private plan(bot: (Bot & { id: string }) | undefined, expressions: string[], id = bot?.id as string): void {
    const old = this.planned.get(id);
    clearTimeout(old?.timer);
    this.planned.delete(id);
    if (!bot || expressions.length === 0) return;
    const entry: Planned = { bot, expressions };
    this.planned.set(id, entry);
    this.arm(entry, new Date());
  }

  private arm(entry: Planned, after: Date): void {
    if (this.stopped || this.planned.get(entry.bot.id) !== entry) return;
    const tick = nextTick(entry.expressions, after);
    if (!tick) return;
    const wait = tick.getTime() - Date.now();
    entry.timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) {
          this.arm(entry, after);
          return;
        }
        this.arm(entry, tick);
        this.fire(entry.bot, tick);
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    entry.timer.unref();
  }

  private fire(bot: Bot & { id: string }, tick: Date): void {
    const run = (async () => {
      const { rowCount } = await this.deps.pool.query(
        'INSERT INTO bot_cron_run (bot_id, tick, owner) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [bot.id, tick.toISOString(), this.deps.owner],
      );
      if (!rowCount) return;
      const result = await this.deps.executor.execute({
        botId: bot.id,
        input: bot,
        contentType: 'application/fhir+json',
        traceId: randomUUID(),
        requester: { display: `cron ${tick.toISOString()}` },
        headers: { 'X-EmergiSphere-Cron-Tick': tick.toISOString() },
      });
      if (!result.ok) this.deps.logger.warn({ bot: bot.id, tick, error: result.error }, 'cron bot run failed');
    })().catch((err) => this.deps.logger.error({ err, bot: bot.id }, 'cron bot run could not start'));
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }
}

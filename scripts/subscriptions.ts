// Operator commands for subscription deliveries:
//   npm run subscriptions -- dead-letters [--limit 100]   list exhausted deliveries (newest first)
//   npm run subscriptions -- replay <id>                   put one dead letter back in the queue
//   npm run subscriptions -- replay-all                    put every dead letter back in the queue
//   npm run subscriptions -- stats                         outbox backlog and deliveries by status
// Uses DATABASE_URL, else the embedded PostgreSQL of a running `npm start` (data/runtime.json),
// else starts the embedded PostgreSQL itself. Running servers are woken by NOTIFY at once.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../server/config.ts';
import { listDeadLetters, replayDeadLetters } from '../server/subscriptions/dead-letters.ts';
import { fail, openCliDatabase } from './lib/cli-database.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } },
});

const config = loadConfig();
const logger = pino({ level: 'warn' });
const db = await openCliDatabase(config, logger);
const pool = db.pool;
try {
  switch (positionals[0]) {
    case 'dead-letters': {
      const list = await listDeadLetters(pool, Number(values.limit) || 100);
      if (values.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        break;
      }
      if (list.length === 0) process.stdout.write('No dead letters.\n');
      for (const d of list) {
        process.stdout.write(
          `${d.id.padStart(8)}  ${d.deadAt}  ${d.subscription}  ${d.resource}/_history/${d.versionId} ${d.interaction}  attempts=${d.attempts}  ${d.lastStatus ?? ''} ${d.lastError ?? ''}\n`,
        );
      }
      break;
    }
    case 'replay': {
      const id = positionals[1];
      if (!id) fail('replay needs a dead letter id (see `npm run subscriptions -- dead-letters`)');
      const n = await replayDeadLetters(pool, id);
      if (n === 0) fail(`No dead letter ${id}`);
      process.stdout.write(`Replaying dead letter ${id}\n`);
      break;
    }
    case 'replay-all': {
      process.stdout.write(`Replaying ${await replayDeadLetters(pool)} dead letter(s)\n`);
      break;
    }
    case 'stats': {
      const { rows: outbox } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM subscription_outbox');
      const { rows } = await pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM subscription_delivery GROUP BY status ORDER BY status',
      );
      process.stdout.write(`outbox backlog: ${outbox[0].n}\n${rows.map((r) => `${r.status}: ${r.n}`).join('\n')}\n`);
      break;
    }
    default:
      fail('usage: npm run subscriptions -- dead-letters|replay <id>|replay-all|stats (see scripts/subscriptions.ts)');
  }
} finally {
  await db.close();
}

import { readFileSync } from 'node:fs';
import pg from 'pg';
import pino from 'pino';
import { computeMetrics, type MetricGroup } from './server/fhir/analytics/compute.ts';
import { PostgresRepository } from './server/fhir/repo.ts';

const url = 'postgres://postgres@127.0.0.1:5432/es_analytics_facts';
const pool = new pg.Pool({ connectionString: url, max: 8 });
const repo = new PostgresRepository({ pool, fhirBaseUrl: 'http://x/', defaultSearchCount: 20, maxSearchCount: 1000, profiles: new Map(), logger: pino({ level: 'silent' }) });
const ticks = (pid: number) => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; } catch { return 0; } };
const admin = new pg.Client({ connectionString: url }); await admin.connect();
async function pgCpu(): Promise<number> {
  const { rows } = await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = 'es_analytics_facts' AND pid <> pg_backend_pid()`);
  return rows.reduce((n, r) => n + ticks(r.pid), 0);
}
// warm the pool so all backends exist before measuring
await Promise.all(Array.from({ length: 8 }, () => pool.query('SELECT 1')));
const window = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z'), timeZone: 'UTC' };
for (const [label, groups, filter] of [
  ['flow', ['flow'], {}], ['alarms', ['alarms'], {}], ['agents', ['agents'], {}], ['all', ['flow', 'alarms', 'agents'], {}], ['all filtered', ['flow', 'alarms', 'agents'], { area: 'resus', acuity: [1, 2] }],
] as [string, MetricGroup[], object][]) {
  for (let i = 0; i < 2; i++) {
    const p0 = await pgCpu(); const n0 = process.cpuUsage(); const w0 = performance.now();
    await computeMetrics(repo, { window, filter, groups });
    const w = performance.now() - w0; const n = process.cpuUsage(n0); const p = (await pgCpu()) - p0;
    if (i) console.log(label.padEnd(14), 'wall', w.toFixed(0), 'node cpu', ((n.user + n.system) / 1000).toFixed(0), 'pg cpu', p);
  }
}
await admin.end(); await pool.end();

// The Grafana dashboard and the Prometheus rules query only metrics the server really exposes.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { OpsMetrics } from './metrics.ts';

const DIR = 'server-config/monitoring';

/** Every series name the server can expose (histograms as their _bucket/_sum/_count series). */
function exposedSeries(): Set<string> {
  const registry = new Registry();
  new OpsMetrics({ registry, pool: {} as pg.Pool });
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    const type = (m as unknown as { type: string }).type;
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
    else names.add(m.name);
  }
  return names;
}

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bemergisphere_[a-z0-9_]+/g)].map((m) => m[0]);
}

function balanced(expr: string): boolean {
  let depth = 0;
  for (const c of expr) {
    if (c === '(' || c === '{' || c === '[') depth++;
    if (c === ')' || c === '}' || c === ']') depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
}

describe('monitoring configuration', () => {
  const series = exposedSeries();

  test('the server exposes the metrics the issue asks for', () => {
    for (const name of [
      'emergisphere_http_requests_total',
      'emergisphere_http_request_duration_seconds_bucket',
      'emergisphere_fhir_operations_total',
      'emergisphere_db_pool_connections',
      'emergisphere_subscription_outbox_depth',
      'emergisphere_subscription_delivery_duration_seconds_bucket',
      'emergisphere_subscription_delivery_lag_seconds',
      'emergisphere_bot_executions_total',
      'emergisphere_hl7_messages',
      'emergisphere_websocket_connections',
      'emergisphere_websocket_notices',
    ]) {
      expect(series.has(name), name).toBe(true);
    }
  });

  test('every Grafana panel query names exposed metrics only', () => {
    const dashboard = JSON.parse(readFileSync(`${DIR}/grafana-dashboard.json`, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.panels.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        expect(balanced(expr), expr).toBe(true);
        const names = metricNames(expr);
        expect(names.length, expr).toBeGreaterThan(0);
        for (const n of names) {
          expect(series.has(n), `${panel.title}: ${n}`).toBe(true);
          used.add(n);
        }
      }
    }
    // Every metric family appears on the dashboard.
    const families = new Set([...series].map((s) => s.replace(/_(bucket|sum|count)$/, '')));
    const shown = new Set([...used].map((s) => s.replace(/_(bucket|sum|count)$/, '')));
    expect([...families].filter((f) => !shown.has(f))).toEqual([]);
  });

  test('the alert rules parse, are complete, and name exposed metrics only', () => {
    const rules = parse(readFileSync(`${DIR}/prometheus-alerts.yml`, 'utf8')) as {
      groups: {
        name: string;
        rules: { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string } }[];
      }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules);
    const names = alerts.map((r) => r.alert);
    expect(names).toEqual(
      expect.arrayContaining(['SubscriptionBacklogGrowing', 'BotFailureRateHigh', 'NoDeviceData', 'EmergiSphereInstanceDown']),
    );
    expect(new Set(names).size).toBe(names.length);
    for (const rule of alerts) {
      expect(rule.expr, rule.alert).toBeTruthy();
      expect(balanced(rule.expr), rule.alert).toBe(true);
      expect(['page', 'ticket']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      if (rule.for) expect(rule.for).toMatch(/^\d+[smh]$/);
      for (const n of metricNames(rule.expr)) expect(series.has(n), `${rule.alert}: ${n}`).toBe(true);
    }
    const scrape = parse(readFileSync(`${DIR}/prometheus.yml`, 'utf8')) as { scrape_configs: { job_name: string; metrics_path: string }[] };
    expect(scrape.scrape_configs[0]).toMatchObject({ job_name: 'emergisphere', metrics_path: '/metrics' });
  });
});

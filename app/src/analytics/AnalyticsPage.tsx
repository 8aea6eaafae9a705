import { BarChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Alert, Badge, Button, Chip, Group, Loader, Paper, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import type { Location, Parameters } from '@medplum/fhirtypes';
import { useMedplum, useSubscription } from '@medplum/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { AllMetrics } from '../../../server/fhir/analytics/reports.ts';
import { metricRows, toCsv } from './csv.ts';
import { type AnalyticsFilters, browserTimeZone, includesNow, metricsQuery, readFilters, writeFilters } from './filters.ts';

const ZONES = [
  { value: 'resus', label: 'Zone: resus' },
  { value: 'acute', label: 'Zone: acute' },
  { value: 'fast-track', label: 'Zone: fast track' },
];
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
/** New arrivals come in bursts (an ambulance, a registration with its triage): one refresh per burst. */
const LIVE_DEBOUNCE_MS = 2000;

const fmt = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? '–' : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)} %`);

export function AnalyticsPage() {
  const medplum = useMedplum();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => readFilters(params, new Date(), browserTimeZone()), [params]);
  const [metrics, setMetrics] = useState<AllMetrics>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const [areas, setAreas] = useState<Location[]>([]);
  const [refreshed, setRefreshed] = useState<Date>();
  const query = metricsQuery(filters).toString();
  const live = includesNow(filters, new Date());

  // The URL always carries every filter, so copying it reproduces exactly these numbers.
  useEffect(() => {
    const full = writeFilters(filters);
    if (full.toString() !== params.toString()) setParams(full, { replace: true });
  }, [filters, params, setParams]);

  useEffect(() => {
    medplum
      .searchResources('Location', 'physical-type=wa&_count=100&_sort=name')
      .then(setAreas)
      .catch(() => setAreas([]));
  }, [medplum]);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const url = `${medplum.fhirUrl('Measure', '$ed-metrics')}?${query}`;
      const result = (await medplum.get(url, { cache: 'no-cache' })) as Parameters;
      const text = result.parameter?.find((p) => p.name === 'metrics')?.valueString;
      setMetrics(JSON.parse(text ?? '{}') as AllMetrics);
      setRefreshed(new Date());
      setError(undefined);
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setLoading(false);
    }
  }, [medplum, query]);

  useEffect(() => {
    load().catch(() => undefined);
  }, [load]);

  // Live: a websocket subscription on ED Encounters (pushed on every arrival and status change)
  // rather than a poll, debounced so a burst of writes costs one recomputation.
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const onEncounter = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => load().catch(() => undefined), LIVE_DEBOUNCE_MS);
  }, [load]);
  useEffect(() => () => clearTimeout(timer.current), []);
  // The socket outlives screens (the board shares it and this very criteria): already open counts as bound.
  const [connected, setConnected] = useState(() => medplum.getSubscriptionManager().getWebSocket().readyState === WebSocket.OPEN);
  useSubscription(live ? 'Encounter?class=EMER' : undefined, onEncounter, {
    // The socket may have been open (the badge live) before this criteria was bound: an arrival in
    // between reached nobody, so recompute once the server has the binding.
    onSubscriptionConnect: () => {
      setConnected(true);
      onEncounter();
    },
    onWebSocketClose: () => setConnected(false),
    // Events missed while the socket was down: recompute once it is back.
    onWebSocketOpen: onEncounter,
  });

  const update = (change: Partial<AnalyticsFilters>) => setParams(writeFilters({ ...filters, ...change }));
  const rows = metrics ? metricRows(metrics) : [];
  const download = () => {
    const blob = new Blob([toCsv(rows)], { type: 'text/csv;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const suffix = [filters.area, filters.acuity.length ? `esi${filters.acuity.join('')}` : ''].filter(Boolean).join('_');
    a.download = `ed-metrics_${filters.from}_${filters.to}${suffix ? `_${suffix}` : ''}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(a.href);
  };

  const f = metrics?.flow;
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={2}>ED analytics</Title>
        <Group gap="xs">
          {live ? (
            <Badge color={connected ? 'green' : 'yellow'} data-testid="live-badge" data-state={connected ? 'live' : 'connecting'}>
              {connected ? 'Live' : 'Connecting…'}
            </Badge>
          ) : (
            <Badge color="gray">Past period</Badge>
          )}
          {loading && <Loader size="xs" aria-label="Refreshing" />}
          {refreshed && (
            <Text size="xs" c="dimmed">
              updated {refreshed.toLocaleTimeString()}
            </Text>
          )}
        </Group>
      </Group>
      <Paper withBorder p="sm">
        <Group align="end" gap="md">
          <TextInput
            type="date"
            label="From"
            value={filters.from}
            onChange={(e) => e.currentTarget.value && update({ from: e.currentTarget.value })}
          />
          <TextInput
            type="date"
            label="To (inclusive)"
            value={filters.to}
            onChange={(e) => e.currentTarget.value && update({ to: e.currentTarget.value })}
          />
          <Select
            label="Area"
            placeholder="All areas"
            clearable
            value={filters.area ?? null}
            data={[...areas.map((a) => ({ value: a.id as string, label: a.name ?? (a.id as string) })), ...ZONES]}
            onChange={(v) => update({ area: v ?? undefined })}
          />
          <div>
            <Text size="sm" fw={500} mb={4}>
              Acuity (ESI)
            </Text>
            <Chip.Group multiple value={filters.acuity.map(String)} onChange={(v) => update({ acuity: v.map(Number).sort() })}>
              <Group gap={4}>
                {[1, 2, 3, 4, 5].map((n) => (
                  <Chip key={n} value={String(n)} size="xs">
                    {n}
                  </Chip>
                ))}
              </Group>
            </Chip.Group>
          </div>
          <Text size="xs" c="dimmed">
            {filters.tz}
          </Text>
          <Button variant="default" onClick={download} disabled={!metrics}>
            Export CSV
          </Button>
        </Group>
      </Paper>
      {error && (
        <Alert color="red" title="Could not compute the metrics">
          {error}
        </Alert>
      )}
      {f && (
        <>
          <SimpleGrid cols={{ base: 2, md: 5 }}>
            <Stat label="Arrivals" value={String(f.arrivals)} testId="stat-arrivals" />
            <Stat label="Door-to-provider, median" value={`${fmt(f.doorToProvider.median)} min`} testId="stat-door-to-provider" />
            <Stat label="Left without being seen" value={pct(f.lwbs.rate)} testId="stat-lwbs" />
            <Stat label="Returns within 72 h" value={pct(f.returns72h.rate)} testId="stat-returns" />
            <Stat label="Alarms per patient-hour" value={fmt(metrics?.alarms?.perPatientHour, 3)} testId="stat-alarms" />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, lg: 2 }}>
            <ChartCard title={filters.from === filters.to ? 'Arrivals per hour' : 'Arrivals per day'}>
              {filters.from === filters.to ? (
                <BarChart
                  h={200}
                  data={f.arrivalsByHour.map((count, hour) => ({ hour: String(hour).padStart(2, '0'), count }))}
                  dataKey="hour"
                  series={[{ name: 'count', label: 'Arrivals', color: 'indigo.6' }]}
                />
              ) : (
                <BarChart h={200} data={f.arrivalsByDay} dataKey="day" series={[{ name: 'count', label: 'Arrivals', color: 'indigo.6' }]} />
              )}
            </ChartCard>
            <ChartCard title="Acuity mix (ESI)">
              <BarChart
                h={200}
                data={Object.entries(f.acuityMix).map(([esi, count]) => ({ esi, count }))}
                dataKey="esi"
                series={[{ name: 'count', label: 'Visits', color: 'red.6' }]}
              />
            </ChartCard>
            <ChartCard title="Durations, minutes (median and 90th percentile)">
              <BarChart
                h={220}
                data={rows
                  .filter((r) => r.group === 'flow' && r.median !== undefined)
                  .map((r) => ({ metric: r.metric, median: r.median ?? 0, p90: r.p90 ?? 0 }))}
                dataKey="metric"
                series={[
                  { name: 'median', label: 'Median', color: 'teal.6' },
                  { name: 'p90', label: '90th percentile', color: 'orange.6' },
                ]}
                withLegend
              />
            </ChartCard>
            <ChartCard title="Arrivals by hour of day">
              <BarChart
                h={220}
                data={f.arrivalsByHour.map((count, hour) => ({ hour: String(hour).padStart(2, '0'), count }))}
                dataKey="hour"
                series={[{ name: 'count', label: 'Arrivals', color: 'grape.6' }]}
              />
            </ChartCard>
            {filters.from !== filters.to && (
              <ChartCard title="Arrivals by weekday">
                <BarChart
                  h={220}
                  data={f.arrivalsByWeekday.map((count, i) => ({ day: WEEKDAYS[i], count }))}
                  dataKey="day"
                  series={[{ name: 'count', label: 'Arrivals', color: 'grape.6' }]}
                />
              </ChartCard>
            )}
          </SimpleGrid>
        </>
      )}
      {metrics && (
        <Paper withBorder p="sm">
          <Title order={3} size="h5" mb="xs">
            Every metric
          </Title>
          <Table striped withTableBorder data-testid="metrics-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Group</Table.Th>
                <Table.Th>Metric</Table.Th>
                <Table.Th>n</Table.Th>
                <Table.Th>Median (min)</Table.Th>
                <Table.Th>p90 (min)</Table.Th>
                <Table.Th>Count</Table.Th>
                <Table.Th>Rate</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={`${r.group}/${r.metric}`} data-metric={`${r.group}/${r.metric}`}>
                  <Table.Td>{r.group}</Table.Td>
                  <Table.Td>{r.metric}</Table.Td>
                  <Table.Td data-col="n">{r.n ?? ''}</Table.Td>
                  <Table.Td data-col="median">{r.median === undefined ? '' : fmt(r.median)}</Table.Td>
                  <Table.Td data-col="p90">{r.p90 === undefined ? '' : fmt(r.p90)}</Table.Td>
                  <Table.Td data-col="count">{r.count ?? ''}</Table.Td>
                  <Table.Td data-col="rate">{r.rate === undefined ? '' : pct(r.rate)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Stack>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={700} size="xl" data-testid={testId}>
        {value}
      </Text>
    </Paper>
  );
}

function ChartCard({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <Paper withBorder p="sm" aria-label={title}>
      <Text fw={600} size="sm" mb="xs">
        {title}
      </Text>
      {children}
    </Paper>
  );
}

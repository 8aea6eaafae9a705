import { LineChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Paper, SimpleGrid, Text } from '@mantine/core';
import type { Observation } from '@medplum/fhirtypes';
import { VITALS } from '../codes.ts';
import { vitalSeries } from './vitals.ts';

export function VitalsCharts({ observations }: { observations: Observation[] }) {
  const series = vitalSeries(observations);
  if (series.size === 0) return <Text c="dimmed">No vital signs recorded yet.</Text>;
  return (
    <SimpleGrid cols={{ base: 1, md: 2 }} data-testid="vitals-charts">
      {VITALS.filter((v) => series.has(v.code)).map((v) => {
        const points = series.get(v.code) ?? [];
        const last = points.at(-1);
        return (
          <Paper key={v.code} withBorder p="sm" aria-label={`${v.label} over time`}>
            <Text fw={600} size="sm">
              {v.label}: {last?.value} {v.unit.replace(/[{}]/g, '')}
              {last?.device ? ' (device)' : ''}
            </Text>
            <LineChart
              h={140}
              data={points.map((p) => ({ t: new Date(p.time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), v: p.value }))}
              dataKey="t"
              series={[{ name: 'v', label: v.label, color: 'indigo.7' }]}
              withDots
              curveType="linear"
              withLegend={false}
            />
          </Paper>
        );
      })}
    </SimpleGrid>
  );
}

import { Anchor, Badge, Code, Group, Paper, Stack, Table, Text } from '@mantine/core';
import { formatDateTime, type MedplumClient } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback } from 'react';
import { Link } from 'react-router';
import { outcomeBadge } from '../admin/outcome-badge.tsx';
import { LoadState, useLoad } from '../admin/use-load.tsx';

/**
 * A bot's executions: one AuditEvent of type `execute` per run ($execute, subscription delivery
 * or cron) naming the Bot as entity. The type matters: the REST audit of reads and updates of the
 * Bot names it as entity too.
 */
function searchExecutions(medplum: MedplumClient, botId: string, count: number): Promise<AuditEvent[]> {
  return medplum.searchResources(
    'AuditEvent',
    { entity: `Bot/${botId}`, type: 'execute', _sort: '-_lastUpdated', _count: String(count) },
    { cache: 'no-cache' },
  );
}

function detail(e: AuditEvent, type: string): string | undefined {
  for (const entity of e.entity ?? []) {
    const found = entity.detail?.find((d) => d.type === type);
    if (found) return found.valueString;
  }
  return undefined;
}

/** The AuditEvent of the run with this trace id (it is written before $execute answers). */
export async function executionLog(medplum: MedplumClient, botId: string, traceId: string): Promise<AuditEvent | undefined> {
  return (await searchExecutions(medplum, botId, 20)).find((e) => detail(e, 'traceId') === traceId);
}

export function BotExecutions({ botId, refresh }: { botId: string; refresh: number }) {
  const medplum = useMedplum();
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh is the reload trigger after an execution
  const load = useCallback(() => searchExecutions(medplum, botId, 25), [medplum, botId, refresh]);
  const [events, error] = useLoad(load);
  return (
    <LoadState error={error} loading={!events} empty={events?.length === 0}>
      <Stack gap="xs">
        {(events ?? []).map((e) => (
          <Paper key={e.id} withBorder p="xs" data-testid="bot-execution-row" data-trace={detail(e, 'traceId') ?? ''}>
            <Group gap="sm">
              {outcomeBadge(e)}
              <Text size="sm">{e.recorded ? formatDateTime(e.recorded) : ''}</Text>
              <Text size="sm" c="dimmed">
                {e.subtype?.[0]?.display ?? e.subtype?.[0]?.code}
              </Text>
              {detail(e, 'contentType') && <Badge variant="outline">{detail(e, 'contentType')}</Badge>}
              {detail(e, 'durationMs') && <Text size="sm">{detail(e, 'durationMs')} ms</Text>}
              <Text size="sm" c="dimmed">
                {e.agent?.find((a) => a.requestor)?.who?.reference}
              </Text>
            </Group>
            {e.outcomeDesc && (
              <Code block mt={4} style={{ maxHeight: 160, overflow: 'auto' }}>
                {e.outcomeDesc}
              </Code>
            )}
          </Paper>
        ))}
      </Stack>
    </LoadState>
  );
}

/** Subscriptions that deliver to this bot (channel.endpoint = Bot/{id}, the `url` search parameter). */
export function BotSubscriptions({ botId }: { botId: string }) {
  const medplum = useMedplum();
  const load = useCallback(
    () => medplum.searchResources('Subscription', { url: `Bot/${botId}`, _count: '100' }, { cache: 'no-cache' }),
    [medplum, botId],
  );
  const [subs, error] = useLoad(load);
  return (
    <LoadState error={error} loading={!subs} empty={subs?.length === 0}>
      <Table aria-label="Subscriptions of the bot">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Subscription</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Criteria</Table.Th>
            <Table.Th>Reason</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(subs ?? []).map((s) => (
            <Table.Tr key={s.id} data-testid="bot-subscription">
              <Table.Td>
                <Anchor component={Link} to={`/Subscription/${s.id}`} size="sm">
                  Subscription/{s.id}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <Badge color={s.status === 'active' ? 'green.9' : 'gray.7'}>{s.status}</Badge>
              </Table.Td>
              <Table.Td>
                <Code>{s.criteria}</Code>
              </Table.Td>
              <Table.Td>{s.reason}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </LoadState>
  );
}

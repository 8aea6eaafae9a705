import { Anchor, Badge, Button, Code, Group, Paper, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { AuditEvent, Bot, Subscription } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback } from 'react';
import { Link } from 'react-router';
import { AdminNav } from './AdminNav.tsx';
import { outcomeBadge } from './outcome-badge.tsx';
import { LoadState as State, useLoad } from './use-load.tsx';

interface DeadLetter {
  id: string;
  subscription: string;
  resource: string;
  versionId: string;
  interaction: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  deadAt: string;
}

export function AdminPage() {
  return (
    <Stack>
      <AdminNav />
      <Title order={2}>Integration and bots</Title>
      <Tabs defaultValue="bots" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="bots">Bots</Tabs.Tab>
          <Tabs.Tab value="deliveries">Subscription deliveries</Tabs.Tab>
          <Tabs.Tab value="dead">Dead letters</Tabs.Tab>
          <Tabs.Tab value="hl7">HL7 messages</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="bots" pt="md">
          <BotsPanel />
        </Tabs.Panel>
        <Tabs.Panel value="deliveries" pt="md">
          <DeliveriesPanel />
        </Tabs.Panel>
        <Tabs.Panel value="dead" pt="md">
          <DeadLettersPanel />
        </Tabs.Panel>
        <Tabs.Panel value="hl7" pt="md">
          <Hl7Panel />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function BotsPanel() {
  const medplum = useMedplum();
  const load = useCallback(
    async () =>
      Promise.all([
        medplum.searchResources('Bot', '_count=200&_sort=name', { cache: 'no-cache' }),
        medplum.searchResources('AuditEvent', 'type=execute&_sort=-_lastUpdated&_count=50', { cache: 'no-cache' }),
      ]),
    [medplum],
  );
  const [data, error] = useLoad(load);
  const [bots, executions] = data ?? [[] as Bot[], [] as AuditEvent[]];
  return (
    <State error={error} loading={!data} empty={bots.length === 0}>
      <Stack>
        <Table aria-label="Deployed bots">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Bot</Table.Th>
              <Table.Th>Identifier</Table.Th>
              <Table.Th>Updated</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {bots.map((b) => (
              <Table.Tr key={b.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/bots/${b.id}`} data-testid="bot-editor-link">
                    {b.name}
                  </Anchor>
                </Table.Td>
                <Table.Td>{b.identifier?.[0]?.value ?? '—'}</Table.Td>
                <Table.Td>{b.meta?.lastUpdated ? formatDateTime(b.meta.lastUpdated) : '—'}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        <Title order={3} size="h4">
          Recent executions
        </Title>
        {executions.map((e) => (
          <Paper key={e.id} withBorder p="xs" data-testid="bot-execution">
            <Group gap="sm">
              {outcomeBadge(e)}
              <Text size="sm" fw={600}>
                {e.agent?.[0]?.who?.display ?? e.agent?.[0]?.who?.reference}
              </Text>
              <Text size="sm">{e.recorded ? formatDateTime(e.recorded) : ''}</Text>
            </Group>
            {e.outcomeDesc && (
              <Code block mt={4} style={{ maxHeight: 160, overflow: 'auto' }}>
                {e.outcomeDesc}
              </Code>
            )}
          </Paper>
        ))}
      </Stack>
    </State>
  );
}

function DeliveriesPanel() {
  const medplum = useMedplum();
  const load = useCallback(
    async () =>
      Promise.all([
        medplum.searchResources('AuditEvent', 'subtype=subscription-delivery&_sort=-_lastUpdated&_count=100', { cache: 'no-cache' }),
        medplum.searchResources('Subscription', '_count=500', { cache: 'no-cache' }),
      ]),
    [medplum],
  );
  const [data, error] = useLoad(load);
  const [events, subs] = data ?? [[] as AuditEvent[], [] as Subscription[]];
  const subName = new Map(subs.map((s) => [`Subscription/${s.id}`, s.reason ?? s.criteria]));
  return (
    <State error={error} loading={!data} empty={events.length === 0}>
      <Table aria-label="Subscription deliveries">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>When</Table.Th>
            <Table.Th>Outcome</Table.Th>
            <Table.Th>Subscription</Table.Th>
            <Table.Th>Resource</Table.Th>
            <Table.Th>Detail</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((e) => {
            const sub = e.entity?.find((x) => x.what?.reference?.startsWith('Subscription/'))?.what?.reference ?? '';
            return (
              <Table.Tr key={e.id} data-testid="delivery">
                <Table.Td>{e.recorded ? formatDateTime(e.recorded) : ''}</Table.Td>
                <Table.Td>{outcomeBadge(e)}</Table.Td>
                <Table.Td>{subName.get(sub) ?? sub}</Table.Td>
                <Table.Td>{e.entity?.[1]?.what?.reference}</Table.Td>
                <Table.Td>
                  <Text size="sm">{e.outcomeDesc}</Text>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </State>
  );
}

function DeadLettersPanel() {
  const medplum = useMedplum();
  const load = useCallback(
    async () => (await medplum.get<{ deadLetters: DeadLetter[] }>('admin/subscriptions/dead-letters', { cache: 'no-cache' })).deadLetters,
    [medplum],
  );
  const [letters, error, reload] = useLoad(load);
  const replay = async (id?: string) => {
    try {
      const res = await medplum.post<{ replayed: number }>(
        id ? `admin/subscriptions/dead-letters/${id}/$replay` : 'admin/subscriptions/dead-letters/$replay',
        {},
      );
      showNotification({ color: 'green', message: `Replayed ${res.replayed}` });
    } catch (err) {
      showNotification({ color: 'red', message: normalizeErrorString(err) });
    }
    reload();
  };
  return (
    <State error={error} loading={!letters} empty={letters?.length === 0}>
      <Stack>
        <Group>
          <Button onClick={() => replay()} data-testid="replay-all">
            Replay all
          </Button>
        </Group>
        <Table aria-label="Dead letters">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Dead since</Table.Th>
              <Table.Th>Subscription</Table.Th>
              <Table.Th>Resource</Table.Th>
              <Table.Th>Attempts</Table.Th>
              <Table.Th>Last error</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(letters ?? []).map((d) => (
              <Table.Tr key={d.id} data-testid="dead-letter">
                <Table.Td>{formatDateTime(d.deadAt)}</Table.Td>
                <Table.Td>{d.subscription}</Table.Td>
                <Table.Td>
                  {d.resource} v{d.versionId}
                </Table.Td>
                <Table.Td>{d.attempts}</Table.Td>
                <Table.Td>{d.lastError ?? d.lastStatus}</Table.Td>
                <Table.Td>
                  <Button size="xs" onClick={() => replay(d.id)} data-testid="replay">
                    Replay
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Stack>
    </State>
  );
}

interface Hl7Entry {
  id: string;
  messageType?: string;
  status?: string;
  receivedAt?: string;
  error?: string | null;
  controlId?: string;
}

/** The HL7 bridge's message log: its API URL is the project secret HL7_BRIDGE_URL (set by `npm start`). */
function Hl7Panel() {
  const medplum = useMedplum();
  const load = useCallback(async () => {
    const res = await medplum.get<{ url?: string; entries: Hl7Entry[]; errors: Hl7Entry[] }>('admin/hl7/messages', { cache: 'no-cache' });
    return res;
  }, [medplum]);
  const [data, error] = useLoad(load);
  return (
    <State error={error} loading={!data} empty={!data?.entries.length && !data?.errors.length}>
      <Stack>
        {(['errors', 'entries'] as const).map((key) => (
          <div key={key}>
            <Title order={3} size="h5">
              {key === 'errors' ? 'Error queue' : 'Message log'}
            </Title>
            <Table>
              <Table.Tbody>
                {(data?.[key] ?? []).map((m) => (
                  <Table.Tr key={m.id}>
                    <Table.Td>{m.receivedAt ? formatDateTime(m.receivedAt) : ''}</Table.Td>
                    <Table.Td>{m.messageType}</Table.Td>
                    <Table.Td>{m.controlId}</Table.Td>
                    <Table.Td>
                      <Badge color={m.status === 'error' ? 'red.9' : 'gray.7'}>{m.status}</Badge>
                    </Table.Td>
                    <Table.Td>{m.error}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        ))}
      </Stack>
    </State>
  );
}

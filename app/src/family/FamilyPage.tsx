import { Alert, Badge, Box, Card, Center, Container, Group, Loader, Stack, Stepper, Text, Title } from '@mantine/core';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { Communication, RelatedPerson } from '@medplum/fhirtypes';
import { useMedplum, useMedplumProfile, useSubscription } from '@medplum/react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { SignOutButton } from '../SignOutButton.tsx';
import { type FamilyStatus, loadFamilyStatus, loadMessages, PHASES, waitText } from './family-status.ts';

type Connection = 'connecting' | 'live' | 'lost';

/** The wait depends on other patients, whose changes the family is not told of: re-read it this often. */
const REFRESH_MS = 30_000;
/** The page's websocket subscriptions: the patient's visit and the messages to this family member. */
const SUBSCRIPTIONS = 2;

/**
 * The only screen of a family member (a RelatedPerson profile): where the patient is in the visit,
 * the expected wait and the messages the care team released to them, live. Phone first: one
 * column, large type. Nothing here is clinical: the server decides what a family member may see.
 */
export function FamilyPage() {
  const medplum = useMedplum();
  const profile = useMedplumProfile() as RelatedPerson;
  const me = `RelatedPerson/${profile.id}`;
  const patientRef = profile.patient?.reference ?? '';
  const [status, setStatus] = useState<FamilyStatus>();
  const [messages, setMessages] = useState<Communication[]>([]);
  const [error, setError] = useState<string>();
  const [connection, setConnection] = useState<Connection>('connecting');
  const wasLost = useRef(false);

  const refresh = useCallback(() => {
    Promise.all([loadFamilyStatus(medplum, patientRef), loadMessages(medplum, me)])
      .then(([s, m]) => {
        setStatus(s);
        setMessages(m);
        setError(undefined);
      })
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum, patientRef, me]);

  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);

  // Live means both subscriptions are bound again, not merely the socket open: only then is a
  // re-read after a drop sure to miss nothing (a change between the re-read and the bind would).
  const bound = useRef(new Set<string>());
  const options = {
    onWebSocketClose: () => {
      wasLost.current = true;
      bound.current.clear();
      setConnection('lost');
    },
    onSubscriptionConnect: (subscriptionId: string) => {
      bound.current.add(subscriptionId);
      if (bound.current.size < SUBSCRIPTIONS) return;
      setConnection('live');
      if (wasLost.current) {
        wasLost.current = false;
        refresh();
      }
    },
  };
  // Exactly the criteria the family-member role may subscribe to (server-config/roles/family-member.json).
  useSubscription(`Encounter?subject=${patientRef}`, refresh, options);
  useSubscription(`Communication?recipient=${me}`, refresh, options);

  // The visit ends in an admission or a discharge: the stepper shows the one that applies.
  const steps = PHASES.filter((p) => p.code !== (status?.phase === 'admitted' ? 'discharged' : 'admitted'));
  const active = status?.phase ? steps.findIndex((p) => p.code === status.phase) : -1;
  return (
    <Container component="main" size={480} px="sm" py="md">
      <Stack gap="md">
        <Group justify="space-between" wrap="nowrap">
          <Title order={1} size="h3">
            {status?.patientName ? `${status.patientName}'s visit` : 'Visit status'}
          </Title>
          <SignOutButton />
        </Group>
        <Group gap="xs">
          <Badge color={connection === 'live' ? 'green' : connection === 'lost' ? 'red' : 'gray'} data-testid="family-connection">
            {connection === 'live' ? 'Live' : connection === 'lost' ? 'Reconnecting…' : 'Connecting…'}
          </Badge>
          {status?.asOf && (
            <Text size="xs" c="dimmed">
              Updated {formatDateTime(status.asOf)}
            </Text>
          )}
        </Group>
        {error && (
          <Alert color="red" title="Updates are not available" role="alert" data-testid="family-error">
            {error}
          </Alert>
        )}
        {!status && !error && (
          <Center p="xl" role="status" aria-label="Loading">
            <Loader />
          </Center>
        )}
        {status && (
          <Card withBorder padding="md">
            <Text size="sm" c="dimmed">
              Where things are
            </Text>
            <Title order={2} size="h2" data-testid="family-phase" data-phase={status.phase ?? 'none'}>
              {status.label}
            </Title>
            {status.phase === 'arrived' && (
              <Box mt="sm" data-testid="family-wait">
                <Text fw={600} size="lg">
                  {waitText(status.expectedWaitMinutes)}
                </Text>
                {status.patientsAhead !== undefined && (
                  <Text size="sm" c="dimmed">
                    {status.patientsAhead === 0
                      ? 'Next in line for their level of urgency.'
                      : `${status.patientsAhead} ahead in the queue.`}{' '}
                    The most urgent patients are always seen first.
                  </Text>
                )}
              </Box>
            )}
            {active >= 0 && (
              <Stepper active={active} orientation="vertical" size="sm" mt="md" aria-label="Visit progress">
                {steps.map((p) => (
                  <Stepper.Step key={p.code} label={p.label} />
                ))}
              </Stepper>
            )}
          </Card>
        )}
        <Card withBorder padding="md">
          <Title order={2} size="h4">
            Messages from the care team
          </Title>
          <Stack gap="sm" mt="sm" data-testid="family-messages">
            {messages.length === 0 && (
              <Text size="sm" c="dimmed">
                No messages yet.
              </Text>
            )}
            {messages.map((m) => (
              <Box key={m.id} data-testid="family-message">
                <Text size="xs" c="dimmed">
                  {m.sent || m.meta?.lastUpdated ? formatDateTime(m.sent ?? m.meta?.lastUpdated) : ''}
                  {m.sender?.display ? ` · ${m.sender.display}` : ''}
                </Text>
                <Text>
                  {m.payload
                    ?.map((p) => p.contentString)
                    .filter(Boolean)
                    .join(' ')}
                </Text>
              </Box>
            ))}
          </Stack>
        </Card>
      </Stack>
    </Container>
  );
}

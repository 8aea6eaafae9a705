import { Alert, Button, Code, CopyButton, Group, Paper, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { AccessPolicy, ClientApplication, Reference } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { ConfirmButton } from './ConfirmButton.tsx';
import { getProjectDetails, policyOptions, projectId, searchPolicies } from './project-api.ts';

/** A secret the server answered once (it keeps only a hash): shown until the page is left. */
interface ShownSecret {
  clientId: string;
  name?: string;
  secret: string;
  rotated: boolean;
}

export function ClientsSection() {
  const medplum = useMedplum();
  const load = useCallback(async () => {
    const [clients, policies, details] = await Promise.all([
      medplum.searchResources('ClientApplication', { _count: '500', _sort: 'name' }, { cache: 'no-cache' }),
      searchPolicies(medplum),
      getProjectDetails(medplum),
    ]);
    return { clients, policies, details };
  }, [medplum]);
  const [data, error, reload] = useLoad(load);
  const [shown, setShown] = useState<ShownSecret>();
  const options = policyOptions(data?.policies ?? []);
  const policyName = (client: ClientApplication) => {
    const member = data?.details.members.find((m) => m.user === `ClientApplication/${client.id}`);
    const ref = member?.accessPolicy?.reference ?? member?.access?.[0]?.policy?.reference;
    return ref ? (data?.policies.find((p) => `AccessPolicy/${p.id}` === ref)?.name ?? ref) : undefined;
  };

  const rotate = async (client: ClientApplication) => {
    try {
      const rotated = await medplum.post<ClientApplication>(
        medplum.fhirUrl('ClientApplication', client.id as string, '$rotate-secret'),
        {},
      );
      setShown({ clientId: client.id as string, name: client.name, secret: rotated.secret as string, rotated: true });
      showNotification({ color: 'green', message: `New secret for ${client.name ?? client.id}` });
    } catch (err) {
      showNotification({ color: 'red', title: 'Secret not rotated', message: normalizeErrorString(err) });
    }
  };

  return (
    <>
      <Title order={2}>Client applications</Title>
      <CreateClientForm
        options={options}
        onCreated={(client) => {
          setShown({ clientId: client.id as string, name: client.name, secret: client.secret as string, rotated: false });
          reload();
        }}
      />
      {shown && (
        <Alert
          color="yellow"
          title={`${shown.rotated ? 'New secret' : 'Secret'} of ${shown.name ?? shown.clientId} — shown this once`}
          data-testid="client-secret-alert"
        >
          <Stack gap={4}>
            <Text size="sm">
              Client id: <Code data-testid="shown-client-id">{shown.clientId}</Code>
            </Text>
            <Group gap="xs">
              <Text size="sm">Secret:</Text>
              <Code data-testid="shown-client-secret">{shown.secret}</Code>
              <CopyButton value={shown.secret}>
                {({ copied, copy }) => (
                  <Button size="compact-xs" variant="light" onClick={copy}>
                    {copied ? 'Copied' : 'Copy'}
                  </Button>
                )}
              </CopyButton>
            </Group>
            <Text size="xs">Only a hash is stored: it cannot be shown again, only rotated.</Text>
          </Stack>
        </Alert>
      )}
      <LoadState error={error} loading={!data} empty={data?.clients.length === 0}>
        <Table aria-label="Client applications">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Client id</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Updated</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(data?.clients ?? []).map((c) => (
              <Table.Tr key={c.id} data-testid="client-row" data-client={c.id}>
                <Table.Td>{c.name ?? '—'}</Table.Td>
                <Table.Td>
                  <Text size="xs" ff="monospace">
                    {c.id}
                  </Text>
                </Table.Td>
                <Table.Td>{policyName(c) ?? 'unrestricted'}</Table.Td>
                <Table.Td>{c.meta?.lastUpdated ? formatDateTime(c.meta.lastUpdated) : ''}</Table.Td>
                <Table.Td>
                  <ConfirmButton
                    label="Rotate secret"
                    title="Rotate client secret"
                    message={`A new secret replaces the current one of ${c.name ?? c.id}: whatever uses the old secret can no longer sign in.`}
                    confirmLabel="Rotate"
                    testId="rotate-secret"
                    onConfirm={() => rotate(c)}
                  />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </LoadState>
    </>
  );
}

function CreateClientForm({
  options,
  onCreated,
}: {
  options: { value: string; label: string }[];
  onCreated: (client: ClientApplication) => void;
}) {
  const medplum = useMedplum();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [policy, setPolicy] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const client = await medplum.post<ClientApplication>(`admin/projects/${projectId(medplum)}/client`, {
        name,
        ...(description ? { description } : {}),
        ...(policy ? { accessPolicy: { reference: policy } as Reference<AccessPolicy> } : {}),
      });
      setName('');
      setDescription('');
      onCreated(client);
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="md" component="form" onSubmit={submit} aria-label="Create a client application">
      <Stack gap="sm">
        <Title order={3} size="h4">
          New client application
        </Title>
        <SimpleGrid cols={{ base: 1, md: 3 }}>
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          <Select
            label="Role"
            description="Empty: unrestricted in the project"
            data={options}
            value={policy}
            onChange={setPolicy}
            searchable
            clearable
            data-testid="client-role"
          />
        </SimpleGrid>
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={busy} data-testid="create-client">
            Create client
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}

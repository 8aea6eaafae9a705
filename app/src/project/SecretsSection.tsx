import { Button, Group, Paper, PasswordInput, Table, Text, TextInput, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import type { Project, ProjectSetting } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { ConfirmButton } from './ConfirmButton.tsx';
import { getProjectDetails, projectId } from './project-api.ts';

type SecretChange = (secrets: ProjectSetting[]) => ProjectSetting[];

/**
 * Project secrets (`Project.secret`, what bots receive as `event.secrets`). The admin API replaces
 * the whole list, so every change is applied to a fresh read of it. Values are never displayed.
 */
export function SecretsSection() {
  const medplum = useMedplum();
  const load = useCallback(async () => (await getProjectDetails(medplum)).project, [medplum]);
  const [project, error, reload] = useLoad(load);

  const apply = async (change: SecretChange, done: string): Promise<boolean> => {
    try {
      const fresh = (await getProjectDetails(medplum)).project;
      await medplum.post<Project>(`admin/projects/${projectId(medplum)}/secrets`, change(fresh.secret ?? []));
      showNotification({ color: 'green', message: done });
      reload();
      return true;
    } catch (err) {
      showNotification({ color: 'red', title: 'Secrets not saved', message: normalizeErrorString(err) });
      return false;
    }
  };
  const put = (name: string, value: string) =>
    apply((all) => [...all.filter((s) => s.name !== name), { name, valueString: value }], `Secret ${name} saved`);

  return (
    <>
      <Title order={2}>Project secrets</Title>
      <Text size="sm" c="dimmed">
        Bots receive these as <code>event.secrets.NAME.valueString</code>. Values are write-only here.
      </Text>
      <AddSecretForm onAdd={put} />
      <LoadState error={error} loading={!project} empty={!project?.secret?.length}>
        <Table aria-label="Project secrets" maw={900}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Value</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(project?.secret ?? []).map((s) => (
              <SecretRow
                key={s.name}
                secret={s}
                onUpdate={(value) => put(s.name as string, value)}
                onDelete={() => apply((all) => all.filter((x) => x.name !== s.name), `Secret ${s.name} deleted`).then(() => undefined)}
              />
            ))}
          </Table.Tbody>
        </Table>
      </LoadState>
    </>
  );
}

function SecretRow({
  secret,
  onUpdate,
  onDelete,
}: {
  secret: ProjectSetting;
  onUpdate: (value: string) => Promise<boolean>;
  onDelete: () => Promise<void>;
}) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState('');
  const kind = Object.keys(secret).find((k) => k.startsWith('value')) ?? 'value';
  return (
    <Table.Tr data-testid="secret-row" data-name={secret.name}>
      <Table.Td>
        <Text ff="monospace" size="sm">
          {secret.name}
        </Text>
      </Table.Td>
      <Table.Td>
        {editing ? (
          <Group gap="xs" wrap="nowrap">
            <PasswordInput
              aria-label={`New value of ${secret.name}`}
              value={value}
              onChange={(e) => setValue(e.currentTarget.value)}
              size="xs"
              w={260}
            />
            <Button
              size="xs"
              disabled={!value}
              onClick={async () => {
                if (await onUpdate(value)) {
                  setEditing(false);
                  setValue('');
                }
              }}
            >
              Save
            </Button>
            <Button size="xs" variant="default" onClick={() => setEditing(false)}>
              Cancel
            </Button>
          </Group>
        ) : (
          <Text size="sm" data-testid="secret-mask">
            ••••••••{' '}
            <Text span c="dimmed" size="xs">
              ({kind})
            </Text>
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" justify="flex-end" wrap="nowrap">
          {!editing && (
            <Button size="xs" variant="light" onClick={() => setEditing(true)} data-testid="update-secret">
              Update
            </Button>
          )}
          <ConfirmButton
            label="Delete"
            title="Delete secret"
            message={`Delete ${secret.name}? Bots that read it get nothing from their next execution.`}
            confirmLabel="Delete"
            testId="delete-secret"
            onConfirm={onDelete}
          />
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

function AddSecretForm({ onAdd }: { onAdd: (name: string, value: string) => Promise<boolean> }) {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
      setError('A name is letters, digits, _ . - and starts with a letter or _');
      return;
    }
    setError(undefined);
    setBusy(true);
    if (await onAdd(name, value)) {
      setName('');
      setValue('');
    }
    setBusy(false);
  };
  return (
    <Paper withBorder p="md" component="form" onSubmit={submit} aria-label="Add a secret" maw={900}>
      <Group align="flex-end">
        <TextInput
          label="Name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={error}
          data-testid="secret-name"
        />
        <PasswordInput
          label="Value"
          required
          value={value}
          onChange={(e) => setValue(e.currentTarget.value)}
          w={300}
          data-testid="secret-value"
        />
        <Button type="submit" loading={busy} data-testid="add-secret">
          Add or replace
        </Button>
      </Group>
    </Paper>
  );
}

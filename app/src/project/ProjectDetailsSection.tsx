import { Badge, Group, Table, Text, Title } from '@mantine/core';
import { formatDateTime } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback } from 'react';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { getProjectDetails } from './project-api.ts';

export function ProjectDetailsSection() {
  const medplum = useMedplum();
  const load = useCallback(() => getProjectDetails(medplum), [medplum]);
  const [details, error] = useLoad(load);
  const project = details?.project;
  const count = (kind: string) => details?.members.filter((m) => m.user?.startsWith(`${kind}/`)).length ?? 0;
  return (
    <>
      <Title order={2}>Project</Title>
      <LoadState error={error} loading={!details} empty={false}>
        <Table aria-label="Project details" data-testid="project-details" maw={800}>
          <Table.Tbody>
            <Table.Tr>
              <Table.Th w={200}>Name</Table.Th>
              <Table.Td data-testid="project-name">{project?.name}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th>Id</Table.Th>
              <Table.Td data-testid="project-id">
                <Text ff="monospace" size="sm">
                  {project?.id}
                </Text>
              </Table.Td>
            </Table.Tr>
            {project?.description && (
              <Table.Tr>
                <Table.Th>Description</Table.Th>
                <Table.Td>{project.description}</Table.Td>
              </Table.Tr>
            )}
            <Table.Tr>
              <Table.Th>Features</Table.Th>
              <Table.Td>
                <Group gap={4}>
                  {(project?.features ?? []).length === 0 ? <Text c="dimmed">none</Text> : null}
                  {(project?.features ?? []).map((f) => (
                    <Badge key={f} variant="light">
                      {f}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th>Owner</Table.Th>
              <Table.Td>{project?.owner?.display ?? project?.owner?.reference ?? '—'}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th>Members</Table.Th>
              <Table.Td>
                {count('User')} users, {count('ClientApplication')} client applications, {count('Bot')} bots
              </Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th>Secrets</Table.Th>
              <Table.Td>{project?.secret?.length ?? 0}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th>Last updated</Table.Th>
              <Table.Td>{project?.meta?.lastUpdated ? formatDateTime(project.meta.lastUpdated) : '—'}</Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
      </LoadState>
    </>
  );
}

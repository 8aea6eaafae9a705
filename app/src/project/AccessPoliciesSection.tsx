import { Alert, Anchor, Badge, Button, Group, List, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatDateTime, normalizeErrorString, OperationOutcomeError } from '@medplum/core';
import type { AccessPolicy, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { Link } from 'react-router';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { roleCode, searchPolicies } from './project-api.ts';

export function AccessPoliciesSection() {
  const medplum = useMedplum();
  const load = useCallback(() => searchPolicies(medplum), [medplum]);
  const [policies, error] = useLoad(load);
  return (
    <>
      <Title order={2}>Access policies</Title>
      <Text size="sm" c="dimmed">
        The roles are the policies tagged with a role code (server-config/roles/). The server writes those files again at every start, so a
        change made here to a role lasts until the next restart unless the file is changed too.
      </Text>
      <LoadState error={error} loading={!policies} empty={policies?.length === 0}>
        <Table aria-label="Access policies">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Resource types</Table.Th>
              <Table.Th>Updated</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(policies ?? []).map((p) => (
              <Table.Tr key={p.id} data-testid="policy-row" data-role={roleCode(p) ?? ''}>
                <Table.Td>
                  <Anchor component={Link} to={`/admin/access-policies/${p.id}`}>
                    {p.name ?? p.id}
                  </Anchor>
                </Table.Td>
                <Table.Td>{roleCode(p) ? <Badge variant="light">{roleCode(p)}</Badge> : <Text c="dimmed">custom</Text>}</Table.Td>
                <Table.Td>
                  <Text size="sm" lineClamp={2}>
                    {(p.resource ?? []).map((r) => `${r.resourceType}${r.readonly ? ' (read)' : ''}`).join(', ')}
                  </Text>
                </Table.Td>
                <Table.Td>{p.meta?.lastUpdated ? formatDateTime(p.meta.lastUpdated) : ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </LoadState>
    </>
  );
}

/** What is wrong with the text before it is sent: JSON syntax, or not this policy. */
function checkPolicyText(text: string, id: string): { policy?: AccessPolicy; problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problems: [`Invalid JSON: ${(err as Error).message}`] };
  }
  const policy = parsed as AccessPolicy;
  const problems: string[] = [];
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) return { problems: ['Expected a JSON object'] };
  if (policy.resourceType !== 'AccessPolicy') problems.push('resourceType must be "AccessPolicy"');
  if (policy.id !== id) problems.push(`id must stay "${id}"`);
  return { policy, problems };
}

function issueText(issue: OperationOutcomeIssue): string {
  const where = issue.expression?.join(', ');
  return `${issue.details?.text ?? issue.diagnostics ?? issue.code}${where ? ` (${where})` : ''}`;
}

export function AccessPolicyEditor({ id }: { id: string }) {
  const medplum = useMedplum();
  const load = useCallback(() => medplum.readResource('AccessPolicy', id, { cache: 'no-cache' }), [medplum, id]);
  const [policy, error, reload] = useLoad(load);
  return (
    <>
      <Group justify="space-between">
        <Title order={2}>Access policy: {policy?.name ?? id}</Title>
        <Anchor component={Link} to="/admin/access-policies" size="sm">
          All access policies
        </Anchor>
      </Group>
      <LoadState error={error} loading={!policy} empty={false}>
        {policy && <PolicyJson key={policy.meta?.versionId} policy={policy} onSaved={reload} />}
      </LoadState>
    </>
  );
}

function PolicyJson({ policy, onSaved }: { policy: AccessPolicy; onSaved: () => void }) {
  const medplum = useMedplum();
  const [text, setText] = useState(JSON.stringify(policy, null, 2));
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const checked = checkPolicyText(text, policy.id as string);
    setProblems(checked.problems);
    if (!checked.policy || checked.problems.length) return;
    setBusy(true);
    try {
      await medplum.updateResource(checked.policy);
      showNotification({ color: 'green', message: `${checked.policy.name ?? 'Access policy'} saved` });
      onSaved();
    } catch (err) {
      // The server validates the policy (structure, criteria): each issue is shown with its path.
      const issues = err instanceof OperationOutcomeError ? (err.outcome.issue ?? []) : [];
      setProblems(issues.length ? issues.map(issueText) : [normalizeErrorString(err)]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Stack>
      <Textarea
        label="AccessPolicy JSON"
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        autosize
        minRows={16}
        maxRows={40}
        spellCheck={false}
        styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 13 } }}
        data-testid="policy-json"
      />
      {problems.length > 0 && (
        <Alert color="red" role="alert" title="Not saved" data-testid="policy-errors">
          <List size="sm">
            {problems.map((p) => (
              <List.Item key={p}>{p}</List.Item>
            ))}
          </List>
        </Alert>
      )}
      <Group>
        <Button onClick={save} loading={busy} data-testid="save-policy">
          Save
        </Button>
        <Button variant="default" onClick={() => setText(JSON.stringify(policy, null, 2))}>
          Revert
        </Button>
      </Group>
    </Stack>
  );
}

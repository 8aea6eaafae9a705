import {
  Alert,
  Badge,
  Button,
  Checkbox,
  CopyButton,
  Group,
  Paper,
  PasswordInput,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { type InviteRequest, normalizeErrorString } from '@medplum/core';
import type { AccessPolicy, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { ConfirmButton } from './ConfirmButton.tsx';
import { getProjectDetails, type ProjectMember, policyOptions, projectId, searchPolicies, setPasswordLinkOf } from './project-api.ts';

const KIND_ORDER = ['User', 'ClientApplication', 'Bot'];

function kindOf(m: ProjectMember): string {
  return m.user?.split('/')[0] ?? '?';
}

function policyOf(m: ProjectMember): string | undefined {
  return m.accessPolicy?.reference ?? m.access?.[0]?.policy?.reference;
}

export function MembersSection() {
  const medplum = useMedplum();
  const load = useCallback(async () => {
    const [details, policies] = await Promise.all([getProjectDetails(medplum), searchPolicies(medplum)]);
    return { details, policies };
  }, [medplum]);
  const [data, error, reload] = useLoad(load);
  const options = policyOptions(data?.policies ?? []);
  const members = [...(data?.details.members ?? [])].sort(
    (a, b) => KIND_ORDER.indexOf(kindOf(a)) - KIND_ORDER.indexOf(kindOf(b)) || (a.name ?? '').localeCompare(b.name ?? ''),
  );
  const myMembership = medplum.getProjectMembership()?.id;
  return (
    <>
      <Title order={2}>Users and members</Title>
      <LoadState error={error} loading={!data} empty={false}>
        <Stack>
          <InviteForm options={options} onInvited={reload} />
          <Table aria-label="Project members">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Profile</Table.Th>
                <Table.Th>Role (AccessPolicy)</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {members.map((m) => (
                <MemberRow
                  key={m.id}
                  member={m}
                  options={options}
                  policies={data?.policies ?? []}
                  self={m.id === myMembership}
                  onChanged={reload}
                />
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      </LoadState>
    </>
  );
}

function MemberRow({
  member,
  options,
  policies,
  self,
  onChanged,
}: {
  member: ProjectMember;
  options: { value: string; label: string }[];
  policies: AccessPolicy[];
  self: boolean;
  onChanged: () => void;
}) {
  const medplum = useMedplum();
  const current = policyOf(member);
  const [role, setRole] = useState<string | null>(current ?? null);
  const [saving, setSaving] = useState(false);
  const base = `admin/projects/${projectId(medplum)}/members/${member.membershipId}`;
  const policyName = current ? (policies.find((p) => `AccessPolicy/${p.id}` === current)?.name ?? current) : undefined;

  const changeRole = async () => {
    setSaving(true);
    try {
      const membership = await medplum.get<ProjectMembership>(base, { cache: 'no-cache' });
      // One policy for the member from now on; parameters of a former access entry are kept with it.
      const params = membership.access?.[0]?.parameter;
      const next: ProjectMembership = {
        ...membership,
        accessPolicy: role ? ({ reference: role } as Reference<AccessPolicy>) : undefined,
        access: role && params ? [{ policy: { reference: role } as Reference<AccessPolicy>, parameter: params }] : undefined,
      };
      if (next.access) delete next.accessPolicy;
      await medplum.post(base, next);
      showNotification({ color: 'green', message: `Role of ${member.name ?? member.user} changed` });
      onChanged();
    } catch (err) {
      showNotification({ color: 'red', title: 'Role not changed', message: normalizeErrorString(err) });
    } finally {
      setSaving(false);
    }
  };

  return (
    <Table.Tr data-testid="member-row" data-member={member.membershipId} data-name={member.name ?? ''}>
      <Table.Td>
        <Group gap={4}>
          <Text size="sm">{member.name ?? member.user}</Text>
          {member.admin && <Badge size="xs">admin</Badge>}
          {member.role === 'owner' && (
            <Badge size="xs" color="grape">
              owner
            </Badge>
          )}
          {!member.active && (
            <Badge size="xs" color="gray">
              inactive
            </Badge>
          )}
        </Group>
      </Table.Td>
      <Table.Td>{kindOf(member)}</Table.Td>
      <Table.Td>
        <Text size="xs" ff="monospace">
          {member.profile}
        </Text>
      </Table.Td>
      <Table.Td>
        {kindOf(member) === 'User' ? (
          <Group gap="xs" wrap="nowrap">
            <Select
              aria-label={`Role of ${member.name ?? member.user}`}
              data={options}
              value={role}
              onChange={setRole}
              placeholder={member.admin ? 'unrestricted (admin)' : 'no policy'}
              clearable
              searchable
              size="xs"
              w={320}
              data-testid="member-role"
            />
            {role !== (current ?? null) && (
              <Button size="xs" onClick={changeRole} loading={saving} data-testid="save-role">
                Save role
              </Button>
            )}
          </Group>
        ) : (
          <Text size="sm">{policyName ?? '—'}</Text>
        )}
      </Table.Td>
      <Table.Td>
        {!self && member.role !== 'owner' && kindOf(member) === 'User' && (
          <ConfirmButton
            label="Remove"
            title="Remove member"
            message={`Remove ${member.name ?? member.user} from the project? Their sessions end at once.`}
            confirmLabel="Remove"
            testId="remove-member"
            onConfirm={async () => {
              try {
                await medplum.delete(base);
                showNotification({ color: 'green', message: `${member.name ?? member.user} removed` });
              } catch (err) {
                showNotification({ color: 'red', title: 'Not removed', message: normalizeErrorString(err) });
              }
              onChanged();
            }}
          />
        )}
      </Table.Td>
    </Table.Tr>
  );
}

function InviteForm({ options, onInvited }: { options: { value: string; label: string }[]; onInvited: () => void }) {
  const medplum = useMedplum();
  const [resourceType, setResourceType] = useState<InviteRequest['resourceType']>('Practitioner');
  const [firstName, setFirstName] = useState('');
  const [lastName, setLastName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [policy, setPolicy] = useState<string | null>(null);
  const [patient, setPatient] = useState('');
  const [admin, setAdmin] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [handOver, setHandOver] = useState<{ name: string; email: string; link: string }>();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setHandOver(undefined);
    const accessPolicy = policy ? ({ reference: policy } as Reference<AccessPolicy>) : undefined;
    const patientRef = resourceType === 'RelatedPerson' && patient.trim() ? { reference: patient.trim() } : undefined;
    const request: InviteRequest = {
      resourceType,
      firstName,
      lastName,
      email,
      ...(password ? { password } : {}),
      ...(patientRef ? { patient: patientRef } : {}),
      membership: {
        admin,
        // A relative's role reads "their patient" (%patient): the patient is the access parameter.
        ...(accessPolicy && patientRef
          ? { access: [{ policy: accessPolicy, parameter: [{ name: 'patient', valueReference: patientRef }] }] }
          : accessPolicy
            ? { accessPolicy }
            : {}),
      },
    };
    try {
      const membership = (await medplum.invite(projectId(medplum), request)) as ProjectMembership;
      const link = setPasswordLinkOf(membership);
      if (link) setHandOver({ name: `${firstName} ${lastName}`, email, link });
      showNotification({ color: 'green', message: `${firstName} ${lastName} invited` });
      setFirstName('');
      setLastName('');
      setEmail('');
      setPassword('');
      onInvited();
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper withBorder p="md" component="form" onSubmit={submit} aria-label="Invite a user">
      <Stack gap="sm">
        <Title order={3} size="h4">
          Invite a user
        </Title>
        <SimpleGrid cols={{ base: 1, md: 3 }}>
          <Select
            label="Profile type"
            data={['Practitioner', 'Patient', 'RelatedPerson']}
            value={resourceType}
            onChange={(v) => setResourceType((v ?? 'Practitioner') as InviteRequest['resourceType'])}
            allowDeselect={false}
          />
          <TextInput label="First name" required value={firstName} onChange={(e) => setFirstName(e.currentTarget.value)} />
          <TextInput label="Last name" required value={lastName} onChange={(e) => setLastName(e.currentTarget.value)} />
          <TextInput label="Email" type="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
          <PasswordInput
            label="Password"
            description="Optional; without one the user gets a link to choose it (emailed when the project has an email channel)"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
          <Select
            label="Role"
            description="A shipped role or any AccessPolicy"
            data={options}
            value={policy}
            onChange={setPolicy}
            searchable
            clearable
            data-testid="invite-role"
          />
          {resourceType === 'RelatedPerson' && (
            <TextInput
              label="Patient"
              placeholder="Patient/…"
              required
              value={patient}
              onChange={(e) => setPatient(e.currentTarget.value)}
            />
          )}
        </SimpleGrid>
        <Checkbox label="Project administrator" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} />
        {error && (
          <Alert color="red" role="alert" data-testid="invite-error">
            {error}
          </Alert>
        )}
        {handOver && (
          <Alert color="blue" title={`No email was sent: give ${handOver.name} this link`} data-testid="set-password-link">
            <Stack gap="xs">
              <Text size="sm">{handOver.email} chooses a password with it. It works once and expires; it is not shown again.</Text>
              <Group gap="xs" wrap="nowrap">
                <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }} data-testid="set-password-url">
                  {handOver.link}
                </Text>
                <CopyButton value={handOver.link}>
                  {({ copied, copy }) => (
                    <Button size="xs" variant="light" onClick={copy}>
                      {copied ? 'Copied' : 'Copy'}
                    </Button>
                  )}
                </CopyButton>
              </Group>
            </Stack>
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={busy} data-testid="invite-submit">
            Invite
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}

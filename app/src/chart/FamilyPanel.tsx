import { Alert, Button, Group, Modal, Paper, PasswordInput, Select, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import type { Communication, Encounter, Parameters, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { useMedplum, useMedplumProfile } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { humanName } from '../board/board-data.ts';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../codes.ts';

const emailOf = (rp: RelatedPerson) => rp.telecom?.find((t) => t.system === 'email')?.value ?? '';

/**
 * The family in the chart (clinicians): the patient's family members on record, an invitation to
 * the family status page for one of them (the server refuses it without the patient's consent),
 * and "Message family": a message released to a family member, which they see live.
 */
export function FamilyPanel(props: { patient: Patient; encounter: Encounter }) {
  const medplum = useMedplum();
  const [family, setFamily] = useState<RelatedPerson[]>([]);
  const patientRef = `Patient/${props.patient.id}`;
  useEffect(() => {
    medplum
      .searchResources('RelatedPerson', { patient: patientRef }, { cache: 'no-cache' })
      .then((r) => setFamily([...r]))
      .catch(() => setFamily([]));
  }, [medplum, patientRef]);
  return (
    <Paper withBorder p="sm" data-testid="family-panel">
      <Title order={3} size="h5">
        Family
      </Title>
      {family.length === 0 ? (
        <Text size="sm" c="dimmed">
          No family member on record.
        </Text>
      ) : (
        <Stack gap={4} mt={4}>
          {family.map((rp) => (
            <Group key={rp.id} justify="space-between" wrap="nowrap">
              <Text size="sm">
                {humanName(rp) ?? 'Family member'}{' '}
                {emailOf(rp) && (
                  <Text span c="dimmed">
                    ({emailOf(rp)})
                  </Text>
                )}
              </Text>
              <InviteFamilyButton patient={props.patient} relatedPerson={rp} />
            </Group>
          ))}
          <MessageFamily family={family} patient={props.patient} encounter={props.encounter} />
        </Stack>
      )}
    </Paper>
  );
}

function InviteFamilyButton(props: { patient: Patient; relatedPerson: RelatedPerson }) {
  const medplum = useMedplum();
  const [opened, setOpened] = useState(false);
  const [email, setEmail] = useState(emailOf(props.relatedPerson));
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const name = humanName(props.relatedPerson) ?? 'family member';
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'relatedPerson', valueReference: { reference: `RelatedPerson/${props.relatedPerson.id}` } },
          { name: 'email', valueString: email },
          ...(password ? [{ name: 'password', valueString: password }] : []),
        ],
      };
      await medplum.post(medplum.fhirUrl('Patient', props.patient.id as string, '$invite-family'), body);
      showNotification({ color: 'green', message: `${name} can now sign in to follow the visit` });
      setOpened(false);
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button size="compact-xs" variant="default" onClick={() => setOpened(true)} data-testid={`invite-family-${props.relatedPerson.id}`}>
        Invite
      </Button>
      <Modal opened={opened} onClose={() => setOpened(false)} title={`Invite ${name} to the family status page`}>
        <Stack>
          <Text size="sm">Needs the patient's consent to family updates naming {name}.</Text>
          <TextInput label="Email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} required />
          <PasswordInput
            label="Initial password"
            description="At least 8 characters; give it to them in person"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
          {error && (
            <Alert color="red" role="alert" title="Not invited">
              {error}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button onClick={submit} loading={busy}>
              Send invitation
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

function MessageFamily(props: { family: RelatedPerson[]; patient: Patient; encounter: Encounter }) {
  const medplum = useMedplum();
  const me = useMedplumProfile();
  const [to, setTo] = useState<string | null>(props.family[0]?.id ?? null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const send = useCallback(async () => {
    const recipient = props.family.find((f) => f.id === to);
    if (!recipient || !text.trim()) return;
    setBusy(true);
    try {
      await medplum.createResource<Communication>({
        resourceType: 'Communication',
        status: 'completed',
        category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'family-update' }] }],
        medium: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', code: 'WRITTEN' }] }],
        subject: { reference: `Patient/${props.patient.id}` },
        encounter: { reference: `Encounter/${props.encounter.id}` },
        recipient: [{ reference: `RelatedPerson/${recipient.id}`, display: humanName(recipient) }],
        ...(me ? { sender: { reference: `${me.resourceType}/${me.id}`, display: humanName(me as RelatedPerson) } } : {}),
        sent: new Date().toISOString(),
        payload: [{ contentString: text.trim() }],
      });
      setText('');
      showNotification({ color: 'green', message: `Message sent to ${humanName(recipient) ?? 'the family'}` });
    } catch (err) {
      showNotification({ color: 'red', message: normalizeErrorString(err) });
    } finally {
      setBusy(false);
    }
  }, [medplum, me, props.family, props.patient.id, props.encounter.id, to, text]);
  return (
    <Stack gap={4} mt="xs">
      <Text size="sm" fw={600}>
        Message family
      </Text>
      <Select
        aria-label="Message to"
        size="xs"
        data={props.family.map((f) => ({ value: f.id as string, label: humanName(f) ?? 'Family member' }))}
        value={to}
        onChange={setTo}
      />
      <Textarea
        aria-label="Message to the family"
        placeholder="What the family may know (nothing restricted)"
        autosize
        minRows={2}
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
      />
      <Group justify="flex-end">
        <Button size="xs" onClick={send} loading={busy} disabled={!text.trim() || !to}>
          Send to family
        </Button>
      </Group>
    </Stack>
  );
}

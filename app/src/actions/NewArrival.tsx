import { Button, Checkbox, Group, Modal, Select, Stack, TextInput } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, Encounter, Patient } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { type FormEvent, useState } from 'react';
import { MODE_OF_ARRIVAL_EXTENSION, PATIENT_TAG_SYSTEM, V3_ACT_CODE } from '../codes.ts';

export interface ArrivalForm {
  unknown: boolean;
  family: string;
  given: string;
  birthDate: string;
  gender: string;
  complaint: string;
  arrivalMode: string;
}

const ARRIVAL_MODES = [
  { value: 'F', label: 'Walk-in' },
  { value: 'C', label: 'Car' },
  { value: 'A', label: 'Ambulance' },
  { value: 'H', label: 'Helicopter' },
  { value: 'P', label: 'Public transport' },
];

/**
 * The arrival as one transaction: a Patient (or a temporary identity for an unknown patient) and
 * an EMER Encounter. Nothing about insurance or identity checks here: triage must not wait (EMTALA).
 */
export function arrivalBundle(form: ArrivalForm, now: Date): Bundle {
  const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
  const stamp = `${String(now.getHours()).padStart(2, '0')}${String(now.getMinutes()).padStart(2, '0')}`;
  const patient: Patient = form.unknown
    ? {
        resourceType: 'Patient',
        name: [{ family: 'Unknown', given: [stamp], text: `Unknown ${stamp}` }],
        gender: (form.gender || 'unknown') as Patient['gender'],
        meta: { tag: [{ system: PATIENT_TAG_SYSTEM, code: 'temporary-identity', display: 'Temporary identity' }] },
      }
    : {
        resourceType: 'Patient',
        name: [{ family: form.family.trim(), given: form.given.trim() ? [form.given.trim()] : undefined }],
        ...(form.birthDate ? { birthDate: form.birthDate } : {}),
        ...(form.gender ? { gender: form.gender as Patient['gender'] } : {}),
      };
  const mode = ARRIVAL_MODES.find((m) => m.value === form.arrivalMode);
  const encounter: Encounter = {
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: V3_ACT_CODE, code: 'EMER', display: 'emergency' },
    subject: { reference: patientUrl },
    period: { start: now.toISOString() },
    ...(form.complaint.trim() ? { reasonCode: [{ text: form.complaint.trim() }] } : {}),
    ...(mode
      ? {
          extension: [
            {
              url: MODE_OF_ARRIVAL_EXTENSION,
              valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0430', code: mode.value, display: mode.label },
            },
          ],
        }
      : {}),
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: patient },
      { request: { method: 'POST', url: 'Encounter' }, resource: encounter },
    ],
  };
}

const EMPTY: ArrivalForm = { unknown: false, family: '', given: '', birthDate: '', gender: '', complaint: '', arrivalMode: '' };

export function NewArrivalButton() {
  const medplum = useMedplum();
  const [opened, { open, close }] = useDisclosure(false);
  const [form, setForm] = useState<ArrivalForm>(EMPTY);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<ArrivalForm>) => setForm((f) => ({ ...f, ...patch }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      await medplum.executeBatch(arrivalBundle(form, new Date()));
      showNotification({ color: 'green', message: 'Arrival registered; triage is running' });
      setForm(EMPTY);
      close();
    } catch (err) {
      showNotification({ color: 'red', title: 'Not registered', message: normalizeErrorString(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <Button onClick={open} data-testid="new-arrival">
        New arrival
      </Button>
      <Modal opened={opened} onClose={close} title="New arrival">
        <form onSubmit={submit}>
          <Stack gap="sm">
            <Checkbox
              label="Unknown patient (temporary identity)"
              checked={form.unknown}
              onChange={(e) => set({ unknown: e.currentTarget.checked })}
            />
            {!form.unknown && (
              <Group grow>
                <TextInput label="Family name" required value={form.family} onChange={(e) => set({ family: e.currentTarget.value })} />
                <TextInput label="Given name" value={form.given} onChange={(e) => set({ given: e.currentTarget.value })} />
              </Group>
            )}
            <Group grow>
              {!form.unknown && (
                <TextInput
                  label="Date of birth"
                  type="date"
                  value={form.birthDate}
                  onChange={(e) => set({ birthDate: e.currentTarget.value })}
                />
              )}
              <Select
                label="Sex"
                data={[
                  { value: 'female', label: 'Female' },
                  { value: 'male', label: 'Male' },
                  { value: 'other', label: 'Other' },
                  { value: 'unknown', label: 'Unknown' },
                ]}
                value={form.gender || null}
                onChange={(v) => set({ gender: v ?? '' })}
              />
            </Group>
            <TextInput
              label="Chief complaint"
              required
              value={form.complaint}
              onChange={(e) => set({ complaint: e.currentTarget.value })}
              placeholder="e.g. ant. chest pain since 2h"
            />
            <Select
              label="Arrival mode"
              data={ARRIVAL_MODES}
              value={form.arrivalMode || null}
              onChange={(v) => set({ arrivalMode: v ?? '' })}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={busy}>
                Register arrival
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

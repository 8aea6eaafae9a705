import { Alert, Button, Group, Modal, NumberInput, Select, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { showNotification } from '@mantine/notifications';
import { createReference, getReferenceString, getStatus, normalizeErrorString, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Bundle, Communication, Encounter, Location, Slot, Task } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import {
  acknowledgement,
  bookingConflict,
  bookParameters,
  FOLLOW_UP_SPECIALTIES,
  FOLLOW_UP_URGENCIES,
  findSlotsQuery,
  type OverrideAction,
  overrideParameters,
  type VitalsForm,
  vitalsBundle,
  withBed,
} from './requests.ts';

/** Runs an action with a notification for its outcome; returns whether it succeeded. */
function useAction(onDone: () => void) {
  const [busy, setBusy] = useState(false);
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      showNotification({ color: 'green', message: what });
      onDone();
      return true;
    } catch (err) {
      showNotification({ color: 'red', title: 'Failed', message: normalizeErrorString(err) });
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}

function ActionModal(props: { label: string; testId: string; children: (close: () => void) => ReactNode; variant?: string }) {
  const [opened, { open, close }] = useDisclosure(false);
  return (
    <>
      <Button size="sm" variant={props.variant ?? 'default'} onClick={open} data-testid={props.testId}>
        {props.label}
      </Button>
      <Modal opened={opened} onClose={close} title={props.label}>
        {opened && props.children(close)}
      </Modal>
    </>
  );
}

export function RecordVitalsButton({ encounter, onDone }: { encounter: Encounter; onDone: () => void }) {
  const medplum = useMedplum();
  const { busy, run } = useAction(onDone);
  const [form, setForm] = useState<VitalsForm>({});
  const field = (key: keyof VitalsForm, label: string, min: number, max: number, step = 1) => (
    <NumberInput
      label={label}
      min={min}
      max={max}
      step={step}
      decimalScale={step < 1 ? 1 : 0}
      value={form[key] ?? ''}
      onChange={(v) => setForm((f) => ({ ...f, [key]: typeof v === 'number' ? v : undefined }))}
    />
  );
  return (
    <ActionModal label="Record vitals" testId="record-vitals">
      {(close) => (
        <form
          onSubmit={async (e: FormEvent) => {
            e.preventDefault();
            if (await run('Vital signs recorded', () => medplum.executeBatch(vitalsBundle(form, encounter, new Date())))) close();
          }}
        >
          <Stack gap="xs">
            <Group grow>
              {field('heartRate', 'Heart rate (/min)', 0, 300)}
              {field('respRate', 'Resp. rate (/min)', 0, 80)}
            </Group>
            <Group grow>
              {field('systolic', 'Systolic (mmHg)', 0, 300)}
              {field('diastolic', 'Diastolic (mmHg)', 0, 200)}
            </Group>
            <Group grow>
              {field('spo2', 'SpO2 (%)', 0, 100)}
              {field('temperature', 'Temperature (°C)', 25, 45, 0.1)}
              {field('pain', 'Pain (0–10)', 0, 10)}
            </Group>
            <Button type="submit" loading={busy}>
              Save
            </Button>
          </Stack>
        </form>
      )}
    </ActionModal>
  );
}

export function OverrideAcuityButton({ encounter, onDone }: { encounter: Encounter; onDone: () => void }) {
  const medplum = useMedplum();
  const { busy, run } = useAction(onDone);
  const [acuity, setAcuity] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  return (
    <ActionModal label="Override acuity" testId="override-acuity" variant="filled">
      {(close) => (
        <form
          onSubmit={async (e: FormEvent) => {
            e.preventDefault();
            const ok = await run(`Acuity set to ESI ${acuity}`, () =>
              medplum.post(
                medplum.fhirUrl('Encounter', '$workflow-override'),
                overrideParameters(encounter.id as string, 'set-acuity', reason, { acuity: Number(acuity) }),
              ),
            );
            if (ok) close();
          }}
        >
          <Stack gap="xs">
            <Select
              label="ESI level"
              required
              data={['1', '2', '3', '4', '5'].map((v) => ({ value: v, label: `ESI ${v}` }))}
              value={acuity}
              onChange={setAcuity}
              data-testid="override-level"
            />
            <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} />
            <Button type="submit" loading={busy} disabled={!acuity || !reason.trim()}>
              Set acuity
            </Button>
          </Stack>
        </form>
      )}
    </ActionModal>
  );
}

/** Skip or re-run one workflow step; the reason is required and recorded as a Provenance. */
export function StepOverrideButton(props: {
  encounterId: string;
  step: string;
  action: Extract<OverrideAction, 'skip' | 'rerun'>;
  onDone: () => void;
}) {
  const medplum = useMedplum();
  const { busy, run } = useAction(props.onDone);
  const [reason, setReason] = useState('');
  const label = props.action === 'skip' ? 'Skip' : 'Re-run';
  return (
    <ActionModal label={`${label} ${props.step}`} testId={`${props.action}-${props.step}`}>
      {(close) => (
        <form
          onSubmit={async (e: FormEvent) => {
            e.preventDefault();
            const ok = await run(`${label}: ${props.step}`, () =>
              medplum.post(
                medplum.fhirUrl('Encounter', '$workflow-override'),
                overrideParameters(props.encounterId, props.action, reason, { step: props.step }),
              ),
            );
            if (ok) close();
          }}
        >
          <Stack gap="xs">
            <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} />
            <Button type="submit" loading={busy} disabled={!reason.trim()}>
              {label}
            </Button>
          </Stack>
        </form>
      )}
    </ActionModal>
  );
}

export function AssignBedButton({ encounter, onDone }: { encounter: Encounter; onDone: () => void }) {
  const medplum = useMedplum();
  const { busy, run } = useAction(onDone);
  const [beds, setBeds] = useState<Location[]>();
  const [bed, setBed] = useState<string | null>(null);
  useEffect(() => {
    medplum
      .searchResources('Location', 'physical-type=bd&status=active&_count=500&_sort=name')
      .then(setBeds)
      .catch(() => setBeds([]));
  }, [medplum]);
  return (
    <ActionModal label="Assign bed" testId="assign-bed">
      {(close) =>
        beds && beds.length === 0 ? (
          <Text>No beds are configured (Locations with physical type “bd”).</Text>
        ) : (
          <form
            onSubmit={async (e: FormEvent) => {
              e.preventDefault();
              const location = beds?.find((b) => b.id === bed);
              if (!location) return;
              const ok = await run(`Moved to ${location.name}`, async () => {
                const current = await medplum.readResource('Encounter', encounter.id as string, { cache: 'no-cache' });
                await medplum.updateResource(withBed(current, { ...createReference(location), display: location.name }, new Date()));
              });
              if (ok) close();
            }}
          >
            <Stack gap="xs">
              <Select
                label="Bed"
                searchable
                data={(beds ?? []).map((b) => ({ value: b.id as string, label: b.name ?? (b.id as string) }))}
                value={bed}
                onChange={setBed}
              />
              <Button type="submit" loading={busy} disabled={!bed}>
                Assign
              </Button>
            </Stack>
          </form>
        )
      }
    </ActionModal>
  );
}

export function AcknowledgeButton({ page, onDone }: { page: Communication; onDone: () => void }) {
  const medplum = useMedplum();
  const { busy, run } = useAction(onDone);
  const profile = medplum.getProfile();
  return (
    <Button
      size="xs"
      loading={busy}
      data-testid="acknowledge"
      onClick={() =>
        run('Page acknowledged', () =>
          medplum.createResource(acknowledgement(page, profile ? createReference(profile) : { display: 'unknown' }, new Date())),
        )
      }
    >
      Acknowledge
    </Button>
  );
}

export function ApproveReportButton({ task, onDone }: { task: Task; onDone: () => void }) {
  const medplum = useMedplum();
  const { busy, run } = useAction(onDone);
  return (
    <Button
      size="xs"
      color="red.9"
      loading={busy}
      data-testid="approve-report"
      onClick={() =>
        run('Report approved and sent', () =>
          medplum.post(medplum.fhirUrl('Task', '$approve-report'), {
            resourceType: 'Parameters',
            parameter: [
              { name: 'task', valueReference: { reference: getReferenceString(task) } },
              { name: 'decision', valueCode: 'approve' },
            ],
          }),
        )
      }
    >
      Approve report
    </Button>
  );
}

/**
 * Books a follow-up through the scheduling agent: free slots from `Slot/$find`, then
 * `Appointment/$book`, which takes the slot atomically. A slot taken meanwhile answers 409; the
 * modal says so and offers the next free slots the answer names.
 */
export function BookFollowUpButton({ encounter, onDone }: { encounter: Encounter; onDone: () => void }) {
  return (
    <ActionModal label="Book follow-up" testId="book-follow-up">
      {(close) => (
        <BookFollowUpForm
          encounter={encounter}
          onBooked={() => {
            close();
            onDone();
          }}
        />
      )}
    </ActionModal>
  );
}

function BookFollowUpForm({ encounter, onBooked }: { encounter: Encounter; onBooked: () => void }) {
  const medplum = useMedplum();
  const [specialty, setSpecialty] = useState<string | null>(FOLLOW_UP_SPECIALTIES[0].value);
  const [urgency, setUrgency] = useState<string | null>('routine');
  const [reason, setReason] = useState('Follow-up after emergency visit');
  const [slots, setSlots] = useState<Slot[]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [conflictMessage, setConflictMessage] = useState<string>();

  const find = async () => {
    if (!specialty || !urgency) return;
    setBusy(true);
    setError(undefined);
    setConflictMessage(undefined);
    try {
      const bundle = await medplum.get<Bundle<Slot>>(`${medplum.fhirUrl('Slot', '$find')}?${findSlotsQuery(specialty, urgency)}`, {
        cache: 'no-cache',
      });
      setSlots((bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };

  const book = async (slot: Slot) => {
    setBusy(true);
    setError(undefined);
    try {
      await medplum.post(medplum.fhirUrl('Appointment', '$book'), bookParameters(encounter, slot, reason));
      showNotification({ color: 'green', message: `Follow-up booked for ${formatSlot(slot)}` });
      onBooked();
    } catch (err) {
      if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 409) {
        const { message, nextSlotIds } = bookingConflict(err.outcome);
        setConflictMessage(message);
        const next = await Promise.all(
          nextSlotIds.map((id) => medplum.readResource('Slot', id, { cache: 'no-cache' }).catch(() => undefined)),
        );
        setSlots(next.filter((s): s is WithId<Slot> => s?.status === 'free'));
      } else {
        setError(normalizeErrorString(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack gap="xs">
      <Select label="Specialty" data={FOLLOW_UP_SPECIALTIES} value={specialty} onChange={setSpecialty} allowDeselect={false} />
      <Select label="Within" data={FOLLOW_UP_URGENCIES} value={urgency} onChange={setUrgency} allowDeselect={false} />
      <TextInput label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} />
      <Button onClick={find} loading={busy && !slots} disabled={!specialty || !urgency} data-testid="find-slots">
        Find free slots
      </Button>
      {conflictMessage && (
        <Alert color="orange" title="That slot was just taken" role="alert" data-testid="booking-conflict">
          {conflictMessage}. {slots?.length ? 'The next free slots are below.' : 'Search again for free slots.'}
        </Alert>
      )}
      {error && (
        <Alert color="red" title="Could not book" role="alert">
          {error}
        </Alert>
      )}
      {slots && slots.length === 0 && !conflictMessage && <Text size="sm">No free slots in that window.</Text>}
      {slots && slots.length > 0 && (
        <Stack gap={4} role="list" aria-label="Free slots">
          {slots.map((s) => (
            <Group key={s.id} justify="space-between" role="listitem" data-testid="free-slot" data-slot={s.id}>
              <Text size="sm">{formatSlot(s)}</Text>
              <Button size="xs" loading={busy} onClick={() => book(s)}>
                Book
              </Button>
            </Group>
          ))}
        </Stack>
      )}
    </Stack>
  );
}

function formatSlot(slot: Slot): string {
  return new Date(slot.start).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

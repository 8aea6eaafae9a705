import { Button, type ButtonProps, Group, Modal, Text } from '@mantine/core';
import { useState } from 'react';

/** A button for a destructive action: it opens a dialog, and only "confirm" there runs the action. */
export function ConfirmButton({
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  testId,
  ...button
}: ButtonProps & {
  label: string;
  title: string;
  message: React.ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  testId?: string;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <Button size="xs" color="red" variant="light" {...button} onClick={() => setOpen(true)} data-testid={testId}>
        {label}
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={title} centered>
        <Text size="sm">{message}</Text>
        <Group justify="flex-end" mt="md">
          <Button variant="default" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button
            color="red"
            loading={busy}
            data-testid="confirm"
            onClick={async () => {
              setBusy(true);
              try {
                await onConfirm();
              } finally {
                setBusy(false);
                setOpen(false);
              }
            }}
          >
            {confirmLabel}
          </Button>
        </Group>
      </Modal>
    </>
  );
}

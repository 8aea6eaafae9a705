import { Alert, Badge, Center, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { Device, Flag, Observation } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { DEVICE_LAST_SEEN_EXTENSION } from '../codes.ts';

interface DeviceRow {
  device: Device;
  battery?: number;
  lastSeen?: string;
  latest?: Observation;
  alerts: Flag[];
}

export function batteryOf(device: Device): number | undefined {
  const p = device.property?.find((x) => x.type?.coding?.some((c) => c.code === '67996'));
  return p?.valueQuantity?.[0]?.value;
}

export function DevicesPage() {
  const medplum = useMedplum();
  const [rows, setRows] = useState<DeviceRow[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    (async () => {
      const opts = { cache: 'no-cache' as const };
      const [devices, flags] = await Promise.all([
        medplum.searchResources('Device', '_count=200&_sort=-_lastUpdated', opts),
        medplum.searchResources('Flag', 'status=active&_count=500', opts).catch(() => [] as Flag[]),
      ]);
      const latest = await Promise.all(
        devices.map((d) => medplum.searchOne('Observation', `device=Device/${d.id}&_sort=-date`, opts).catch(() => undefined)),
      );
      setRows(
        devices.map((device, i) => ({
          device,
          battery: batteryOf(device),
          lastSeen: device.extension?.find((e) => e.url === DEVICE_LAST_SEEN_EXTENSION)?.valueDateTime,
          latest: latest[i],
          alerts: flags.filter(
            (f) =>
              f.subject?.reference === `Device/${device.id}` ||
              (!!device.patient?.reference && f.subject?.reference === device.patient.reference),
          ),
        })),
      );
    })().catch((err) => setError(normalizeErrorString(err)));
  }, [medplum]);

  return (
    <Stack>
      <Title order={2}>Devices</Title>
      {error && (
        <Alert color="red" role="alert" title="Devices could not be loaded">
          {error}
        </Alert>
      )}
      {!rows && !error && (
        <Center p="xl" role="status" aria-label="Loading devices">
          <Loader />
        </Center>
      )}
      {rows?.length === 0 && <Text c="dimmed">No devices registered.</Text>}
      {rows && rows.length > 0 && (
        <Table striped aria-label="Registered devices">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Device</Table.Th>
              <Table.Th>Serial</Table.Th>
              <Table.Th>Patient</Table.Th>
              <Table.Th>Battery</Table.Th>
              <Table.Th>Last seen</Table.Th>
              <Table.Th>Latest reading</Table.Th>
              <Table.Th>Alerts</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((r) => (
              <Table.Tr key={r.device.id} data-testid="device-row">
                <Table.Td>
                  {r.device.deviceName?.[0]?.name ?? r.device.type?.text ?? r.device.type?.coding?.[0]?.display ?? r.device.id}
                </Table.Td>
                <Table.Td>{r.device.serialNumber ?? '—'}</Table.Td>
                <Table.Td>{r.device.patient?.display ?? r.device.patient?.reference ?? '—'}</Table.Td>
                <Table.Td>
                  {r.battery === undefined ? '—' : <Badge color={r.battery < 20 ? 'red.9' : 'green.9'}>{r.battery}%</Badge>}
                </Table.Td>
                <Table.Td>{r.lastSeen ? formatDateTime(r.lastSeen) : '—'}</Table.Td>
                <Table.Td>
                  {r.latest
                    ? `${r.latest.code?.text ?? r.latest.code?.coding?.[0]?.display ?? ''} ${r.latest.valueQuantity?.value ?? ''} ${r.latest.valueQuantity?.unit ?? ''}`
                    : '—'}
                </Table.Td>
                <Table.Td>
                  {r.alerts.map((f) => (
                    <Badge key={f.id} color="red.9" mr={4}>
                      {f.code?.text ?? 'alert'}
                    </Badge>
                  ))}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

import { Select } from '@mantine/core';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { useNavigate } from 'react-router';
import { canRead } from '../access.ts';

/** Every resource type the server serves (its CapabilityStatement) that this role may read. */
export function ResourceTypePicker({ value }: { value: string }) {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [types, setTypes] = useState<string[]>([value]);
  useEffect(() => {
    medplum
      .get<CapabilityStatement>(medplum.fhirUrl('metadata'))
      .then((cs) => {
        const served = (cs.rest?.[0]?.resource ?? []).map((r) => r.type as string);
        setTypes(served.filter((t) => canRead(medplum, t)));
      })
      .catch(console.error);
  }, [medplum]);
  return (
    <Select
      aria-label="Resource type"
      data-testid="resource-type-picker"
      searchable
      w={260}
      data={types.includes(value) ? types : [value, ...types]}
      value={value}
      onChange={(type) => type && type !== value && navigate(`/${type}`)}
      comboboxProps={{ withinPortal: true }}
    />
  );
}

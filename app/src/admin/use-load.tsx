import { Alert, Loader, Text } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useCallback, useEffect, useState } from 'react';

/** Runs `load` on mount and whenever it changes; `reload` runs it again (after a write). */
export function useLoad<T>(load: () => Promise<T>): [T | undefined, string | undefined, () => void] {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<string>();
  const reload = useCallback(() => {
    load()
      .then((v) => {
        setValue(v);
        setError(undefined);
      })
      .catch((err) => setError(normalizeErrorString(err)));
  }, [load]);
  useEffect(reload, [reload]);
  return [value, error, reload];
}

export function LoadState({
  error,
  loading,
  empty,
  children,
}: {
  error?: string;
  loading: boolean;
  empty: boolean;
  children: React.ReactNode;
}) {
  if (error)
    return (
      <Alert color="red" role="alert">
        {error}
      </Alert>
    );
  if (loading) return <Loader aria-label="Loading" />;
  if (empty) return <Text c="dimmed">Nothing here.</Text>;
  return <>{children}</>;
}

import { Center, Loader } from '@mantine/core';
import { type ReactNode, Suspense } from 'react';

/** The spinner screens show while they load: the whole window, or a page's area. */
export function Loading({ fullHeight = false }: { fullHeight?: boolean }) {
  return (
    <Center {...(fullHeight ? { h: '100vh' } : { p: 'xl' })} role="status" aria-label="Loading">
      <Loader />
    </Center>
  );
}

/** A lazily loaded screen's boundary, with the spinner while its code arrives. */
export function LazyScreens({ children, fullHeight = false }: { children: ReactNode; fullHeight?: boolean }) {
  return <Suspense fallback={<Loading fullHeight={fullHeight} />}>{children}</Suspense>;
}

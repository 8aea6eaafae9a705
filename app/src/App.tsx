import { Anchor, AppShell, Button, Center, Group, Loader, Text, Title } from '@mantine/core';
import { SignInForm, useMedplum, useMedplumProfile } from '@medplum/react';
import { lazy, Suspense } from 'react';
import { Link, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';
import { TrackingBoard } from './board/TrackingBoard.tsx';

// Screens other than the board load on demand, so the board's first render needs less code.
const EncounterChart = lazy(() => import('./chart/EncounterChart.tsx').then((m) => ({ default: m.EncounterChart })));
const DevicesPage = lazy(() => import('./devices/DevicesPage.tsx').then((m) => ({ default: m.DevicesPage })));
const AdminPage = lazy(() => import('./admin/AdminPage.tsx').then((m) => ({ default: m.AdminPage })));
const FamilyPage = lazy(() => import('./family/FamilyPage.tsx').then((m) => ({ default: m.FamilyPage })));

export function App() {
  const medplum = useMedplum();
  const profile = useMedplumProfile();
  const location = useLocation();
  if (medplum.isLoading()) {
    return (
      <Center h="100vh" role="status" aria-label="Loading">
        <Loader />
      </Center>
    );
  }
  if (!profile) {
    return (
      <Routes>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="*" element={<Navigate to="/signin" replace state={{ from: location.pathname }} />} />
      </Routes>
    );
  }
  if (profile.resourceType === 'RelatedPerson') {
    // A family member sees only their status page: no ED navigation, whatever the URL.
    return (
      <Suspense
        fallback={
          <Center p="xl" role="status" aria-label="Loading">
            <Loader />
          </Center>
        }
      >
        <Routes>
          <Route path="/" element={<FamilyPage />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </Suspense>
    );
  }
  return (
    <AppShell header={{ height: 52 }} padding="md">
      <AppShell.Header>
        <Header />
      </AppShell.Header>
      <AppShell.Main>
        <Suspense
          fallback={
            <Center p="xl" role="status" aria-label="Loading">
              <Loader />
            </Center>
          }
        >
          <Routes>
            <Route path="/" element={<TrackingBoard />} />
            <Route path="/Encounter/:id" element={<EncounterChart />} />
            <Route path="/devices" element={<DevicesPage />} />
            <Route path="/admin" element={medplum.isProjectAdmin() ? <AdminPage /> : <Navigate to="/" replace />} />
            <Route path="/signin" element={<Navigate to="/" replace />} />
            <Route path="*" element={<Text>Page not found.</Text>} />
          </Routes>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

function Header() {
  const medplum = useMedplum();
  const profile = useMedplumProfile();
  const navigate = useNavigate();
  const name = profile?.name?.[0] ? [profile.name[0].given?.join(' '), profile.name[0].family].filter(Boolean).join(' ') : undefined;
  return (
    <Group h="100%" px="md" justify="space-between" wrap="nowrap">
      <Group gap="lg" wrap="nowrap">
        <Title order={1} size="h4">
          EmergiSphere
        </Title>
        <nav aria-label="Main">
          <Group gap="md">
            <Anchor component={Link} to="/">
              Tracking board
            </Anchor>
            <Anchor component={Link} to="/devices">
              Devices
            </Anchor>
            {medplum.isProjectAdmin() && (
              <Anchor component={Link} to="/admin">
                Integration &amp; bots
              </Anchor>
            )}
          </Group>
        </nav>
      </Group>
      <Group gap="sm" wrap="nowrap">
        <Text size="sm" data-testid="current-user">
          {name ?? medplum.getActiveLogin()?.profile?.display ?? 'Signed in'}
        </Text>
        <Button
          size="xs"
          variant="default"
          onClick={async () => {
            await medplum.signOut();
            navigate('/signin');
          }}
        >
          Sign out
        </Button>
      </Group>
    </Group>
  );
}

function SignInPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  return (
    <Center mih="100vh" bg="gray.1">
      <main style={{ width: 420 }}>
        <SignInForm onSuccess={() => navigate(from && from !== '/signin' ? from : '/')}>
          <Title order={1} size="h3">
            EmergiSphere — sign in
          </Title>
        </SignInForm>
      </main>
    </Center>
  );
}

import { Anchor, AppShell, Center, Group, Text, Title } from '@mantine/core';
import { SignInForm, useMedplum, useMedplumProfile } from '@medplum/react';
import { lazy, type ReactElement } from 'react';
import { Link, Navigate, Route, Routes, useLocation, useNavigate, useParams } from 'react-router';
import { canRead, canReadAny, canWriteAny } from './access.ts';
import { TrackingBoard } from './board/TrackingBoard.tsx';
import { LazyScreens, Loading } from './loading.tsx';
import { SignOutButton } from './SignOutButton.tsx';
import { searchMemory } from './workspace/search-memory.ts';
import { userKey } from './workspace/user-key.ts';

// Screens other than the board load on demand, so the board's first render needs less code.
const EncounterChart = lazy(() => import('./chart/EncounterChart.tsx').then((m) => ({ default: m.EncounterChart })));
const DevicesPage = lazy(() => import('./devices/DevicesPage.tsx').then((m) => ({ default: m.DevicesPage })));
const AnalyticsPage = lazy(() => import('./analytics/AnalyticsPage.tsx').then((m) => ({ default: m.AnalyticsPage })));
const AdminPage = lazy(() => import('./admin/AdminPage.tsx').then((m) => ({ default: m.AdminPage })));
const BotEditorPage = lazy(() => import('./bots/BotEditorPage.tsx').then((m) => ({ default: m.BotEditorPage })));
const ProjectAdminPage = lazy(() => import('./project/ProjectAdminPage.tsx').then((m) => ({ default: m.ProjectAdminPage })));
const SearchPage = lazy(() => import('./workspace/SearchPage.tsx').then((m) => ({ default: m.SearchPage })));
const ResourcePage = lazy(() => import('./workspace/ResourcePage.tsx').then((m) => ({ default: m.ResourcePage })));
const VersionPage = lazy(() => import('./workspace/VersionPage.tsx').then((m) => ({ default: m.VersionPage })));
const CreateResourcePage = lazy(() => import('./workspace/CreateResourcePage.tsx').then((m) => ({ default: m.CreateResourcePage })));
const BatchPage = lazy(() => import('./workspace/BatchPage.tsx').then((m) => ({ default: m.BatchPage })));
const SetPasswordPage = lazy(() => import('./signin/SetPasswordPage.tsx').then((m) => ({ default: m.SetPasswordPage })));
const ResetPasswordPage = lazy(() => import('./signin/ResetPasswordPage.tsx').then((m) => ({ default: m.ResetPasswordPage })));
const FamilyPage = lazy(() => import('./family/FamilyPage.tsx').then((m) => ({ default: m.FamilyPage })));

export function App() {
  const medplum = useMedplum();
  const profile = useMedplumProfile();
  const location = useLocation();
  if (medplum.isLoading()) {
    return <Loading fullHeight />;
  }
  if (!profile) {
    return (
      <LazyScreens fullHeight>
        <Routes>
          <Route path="/signin" element={<SignInPage />} />
          {/* Links from invitation and reset emails: they work signed out. */}
          <Route path="/setpassword/:id/:secret" element={<SetPasswordPage />} />
          <Route path="/resetpassword" element={<ResetPasswordPage />} />
          <Route path="*" element={<Navigate to="/signin" replace state={{ from: location.pathname }} />} />
        </Routes>
      </LazyScreens>
    );
  }
  if (profile.resourceType === 'RelatedPerson') {
    // A family member sees only their status page: no ED navigation, whatever the URL.
    return (
      <LazyScreens>
        <Routes>
          <Route path="/" element={<FamilyPage />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </LazyScreens>
    );
  }
  // The server refuses these APIs to anyone else; the app does not offer the pages either.
  const adminOnly = (page: React.ReactNode) => (medplum.isProjectAdmin() ? page : <Navigate to="/" replace />);
  return (
    <AppShell header={{ height: 52 }} padding="md">
      <AppShell.Header>
        <Header />
      </AppShell.Header>
      <AppShell.Main>
        <LazyScreens>
          <Routes>
            <Route path="/" element={<TrackingBoard />} />
            <Route path="/Encounter/:id" element={<EncounterChart />} />
            <Route path="/devices" element={<DevicesPage />} />
            <Route path="/analytics" element={canRead(medplum, 'MeasureReport') ? <AnalyticsPage /> : <Navigate to="/" replace />} />
            <Route path="/admin" element={adminOnly(<AdminPage />)} />
            <Route path="/admin/:section/:id?" element={adminOnly(<ProjectAdminPage />)} />
            <Route path="/bots/:id" element={adminOnly(<BotEditorPage />)} />
            <Route path="/Bot/:id/editor" element={adminOnly(<BotEditorPage />)} />
            <Route path="/signin" element={<Navigate to="/" replace />} />
            <Route path="/setpassword/:id/:secret" element={<SetPasswordPage />} />
            {/* The any-resource workspace; the static routes above take precedence over these. */}
            <Route path="/batch" element={<BatchPage />} />
            <Route path="/:resourceType" element={<ResourceTypeRoute page={<SearchPage />} />} />
            <Route path="/:resourceType/new" element={<ResourceTypeRoute page={<CreateResourcePage />} />} />
            <Route path="/:resourceType/:id" element={<ResourceTypeRoute page={<ResourcePage />} />} />
            <Route path="/:resourceType/:id/:tab" element={<ResourceTypeRoute page={<ResourcePage />} />} />
            <Route path="/:resourceType/:id/_history/:versionId" element={<ResourceTypeRoute page={<VersionPage />} />} />
            <Route path="*" element={<Text>Page not found.</Text>} />
          </Routes>
        </LazyScreens>
      </AppShell.Main>
    </AppShell>
  );
}

function Header() {
  const medplum = useMedplum();
  const profile = useMedplumProfile();
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
            {canRead(medplum, 'MeasureReport') && (
              <Anchor component={Link} to="/analytics">
                Analytics
              </Anchor>
            )}
            {canReadAny(medplum) && (
              <Anchor component={Link} to={`/${searchMemory(window.localStorage, userKey(medplum)).lastType() ?? 'Patient'}`}>
                Resources
              </Anchor>
            )}
            {canWriteAny(medplum) && (
              <Anchor component={Link} to="/batch">
                Batch
              </Anchor>
            )}
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
        <SignOutButton />
      </Group>
    </Group>
  );
}

/** `/:resourceType…` only for names shaped like a FHIR resource type; `/foo` stays "Page not found". */
function ResourceTypeRoute({ page }: { page: ReactElement }) {
  const { resourceType } = useParams();
  return resourceType && /^[A-Z][A-Za-z]+$/.test(resourceType) ? page : <Text>Page not found.</Text>;
}

function SignInPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  return (
    <Center mih="100vh" bg="gray.1">
      <main style={{ width: 420 }}>
        <SignInForm onSuccess={() => navigate(from && from !== '/signin' ? from : '/')} onForgotPassword={() => navigate('/resetpassword')}>
          <Title order={1} size="h3">
            EmergiSphere — sign in
          </Title>
        </SignInForm>
      </main>
    </Center>
  );
}

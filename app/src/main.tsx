import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import '@medplum/react/styles.css';
import './app.css';
import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MedplumClient } from '@medplum/core';
import { MedplumProvider } from '@medplum/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, useNavigate } from 'react-router';
import { App } from './App.tsx';
import { theme } from './theme.ts';

// The app is served by the FHIR server itself, so the API is this origin.
const medplum = new MedplumClient({
  baseUrl: window.location.origin + '/',
  // Short: the board reads with cache 'no-cache'; this only spares repeated name look-ups.
  cacheTime: 10_000,
  onUnauthenticated: () => {
    if (window.location.pathname !== '/signin') window.location.assign('/signin');
  },
});

function Root() {
  const navigate = useNavigate();
  return (
    <MedplumProvider medplum={medplum} navigate={navigate}>
      <App />
    </MedplumProvider>
  );
}

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light">
      <Notifications position="top-right" />
      <BrowserRouter>
        <Root />
      </BrowserRouter>
    </MantineProvider>
  </StrictMode>,
);

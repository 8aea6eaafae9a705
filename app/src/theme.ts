import { createTheme } from '@mantine/core';

export const theme = createTheme({
  primaryColor: 'indigo',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
  defaultRadius: 'sm',
  focusRing: 'always',
});

/**
 * ESI colours as EDs print them (1 red … 5 blue), each with a text colour that keeps a contrast
 * ratio of at least 4.5:1 against its background.
 */
export const ESI_COLOURS: Record<number, { bg: string; fg: string; label: string }> = {
  1: { bg: '#b3001b', fg: '#ffffff', label: 'Resuscitation' },
  2: { bg: '#e8590c', fg: '#000000', label: 'Emergent' },
  3: { bg: '#fcc419', fg: '#000000', label: 'Urgent' },
  4: { bg: '#2b8a3e', fg: '#ffffff', label: 'Less urgent' },
  5: { bg: '#1864ab', fg: '#ffffff', label: 'Non-urgent' },
};

export const STEP_STATUS_COLOURS: Record<string, string> = {
  draft: '#adb5bd',
  requested: '#adb5bd',
  ready: '#74c0fc',
  'in-progress': '#1c7ed6',
  completed: '#2b8a3e',
  failed: '#c92a2a',
  cancelled: '#495057',
};

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The app is served by our FHIR server from app/dist; during `vite dev` the API is proxied to it.
const apiTarget = process.env.MEDPLUM_BASE_URL ?? 'http://localhost:8103';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
    // @medplum/react's stylesheet carries a Mantine PostCSS variable in a media query that
    // lightningcss rejects; esbuild minifies it as written.
    cssMinify: 'esbuild',
  },
  server: {
    // Only the admin API's branches: /admin itself and /admin/members etc. are the app's pages.
    proxy: Object.fromEntries(
      ['/fhir', '/auth', '/oauth2', '/admin/projects', '/admin/subscriptions', '/admin/hl7', '/.well-known'].map((p) => [p, apiTarget]),
    ),
  },
});

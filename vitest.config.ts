import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'server/**/*.test.ts',
      'bots/**/*.test.ts',
      'hl7-bridge/**/*.test.ts',
      'scripts/**/*.test.ts',
      'test/**/*.test.ts',
      'app/**/*.test.ts',
      'deploy/**/*.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});

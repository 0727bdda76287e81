import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real servers (aedes, SQLite, Redis, Chromium) bind loopback ports; keep files apart.
    fileParallelism: true,
    pool: 'forks',
  },
});

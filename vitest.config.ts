import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // README examples import the package by name; in tests that name points at the source.
    alias: [
      { find: /^keybound\/cose$/, replacement: here('./cose/index.ts') },
      { find: /^keybound\/cose\/adapters$/, replacement: here('./cose/adapters/index.ts') },
      { find: /^keybound\/device$/, replacement: here('./device/index.ts') },
      { find: /^keybound\/device\/adapters$/, replacement: here('./device/adapters/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

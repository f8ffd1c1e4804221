import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    allowOnly: false,
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own origins, proxies and (when needed) redis-server on free ports.
    pool: 'forks',
    fileParallelism: true,
  },
});

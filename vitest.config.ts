import { availableParallelism } from 'node:os';
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
    // One file per core: most files wait on sockets, timers and child processes, so vitest's
    // default (cores - 1: one file at a time on 2 cores) left a core idle. Four at a time
    // overloaded a shared 2-core machine (CLI starts past their deadlines). `--maxWorkers N` overrides.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});

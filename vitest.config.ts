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
    // Two files per core: most files spend their time waiting on sockets, timers and child
    // processes, not on the CPU (vitest's default, cores - 1, ran one file at a time on 2 cores).
    // `--maxWorkers N` overrides it.
    maxWorkers: Math.max(2, availableParallelism() * 2),
  },
});

import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Folders whose files pass in any file order in one process (checked with
// --sequence.shuffle.files): they close the proxies, origins and child processes they start.
// Sharing the worker process (isolate: false) spares each file a fresh import of the proxy's
// ~300 modules through vite, which was most of the in-process files' CPU. test/store and
// test/parents keep one process per file: some of their files (Redis outages, ban markers)
// pass only in a fresh process.
const SHARED_PROCESS = ['unit', 'rfc9111', 'proxy', 'policies', 'security', 'crawl', 'admin', 'observe', 'cli', 'https'].map((dir) => `test/${dir}/**/*.test.ts`);
// In a shared folder, but reads the process-wide registry of memos (bounded-memo.ts
// memoUsage()), where other files' proxies would be.
const OWN_PROCESS = ['test/unit/bounded-memos.test.ts'];

export default defineConfig({
  test: {
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
    projects: [
      { extends: true, test: { name: 'shared-process', include: SHARED_PROCESS, exclude: OWN_PROCESS, isolate: false } },
      { extends: true, test: { name: 'isolated', include: ['test/**/*.test.ts'], exclude: SHARED_PROCESS } },
      { extends: true, test: { name: 'own-process', include: OWN_PROCESS } },
    ],
  },
});

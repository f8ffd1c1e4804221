// The embedded default backend: everything in this process, nothing to set up.
import type { Backend } from '../types.js';
import { MemoryChangeLog } from './change-log.js';
import { MemoryCoordination, MemoryLedger, MemoryRuleStore } from './coordination.js';
import { MemoryEntryStore } from './entry-store.js';

/** `pageBytes`: the body pool's page size (default: page-pool.ts pageSizeFor); tests set it. */
export function createMemoryBackend<Rules>(options: { cacheSizeBytes: number; now: () => number; pageBytes?: number }): Backend<Rules> {
  const entries = new MemoryEntryStore(options.cacheSizeBytes, options.pageBytes);
  const rules = new MemoryRuleStore<Rules>();
  return {
    kind: 'memory',
    entries,
    coordination: new MemoryCoordination(options.now),
    ledger: new MemoryLedger(options.now),
    rules,
    changes: new MemoryChangeLog(),
    close: async () => {
      await entries.close();
      await rules.close();
    },
  };
}

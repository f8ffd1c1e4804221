// `--store disk:PATH`: the cache in an LMDB file under PATH that outlives the process and that
// every worker on the host opens. Entries live on disk (entry-store.ts); fill locks, the isolate
// ledger, rules and the change history are still this process's (memory/), as with the memory
// store. The guard turns a failing database into StoreUnavailable (served uncached); a write that
// fails for lack of space or permission is not an outage: lookups keep hitting, and the state
// change is logged once.
import type { Logger } from '../../observe/log.js';
import { guardBackend } from '../guarded.js';
import { MemoryChangeLog } from '../memory/change-log.js';
import { MemoryCoordination, MemoryLedger, MemoryRuleStore } from '../memory/coordination.js';
import type { Backend } from '../types.js';
import { DiskEntryStore } from './entry-store.js';
import { openDiskDatabases } from './open.js';
import { isWriteRefusal, WriteHealth } from './write-health.js';

export interface DiskBackendOptions {
  dir: string;
  cacheSizeBytes: number;
  storeTimeoutMs: number;
  logger: Logger;
  now: () => number;
}

export function createDiskBackend<Rules>(options: DiskBackendOptions): Backend<Rules> {
  const { logger } = options;
  const db = openDiskDatabases(options.dir);
  const writes = new WriteHealth(options.dir, logger);
  const entries = new DiskEntryStore(db, {
    cacheSizeBytes: options.cacheSizeBytes,
    now: options.now,
    onCorrupt: (url, problem) => logger.warn('disk store dropped a damaged entry', { url, problem }),
  });
  const rules = new MemoryRuleStore<Rules>();
  const backend: Backend<Rules> = {
    kind: 'disk',
    entries: writes.watch(entries),
    coordination: new MemoryCoordination(options.now),
    ledger: new MemoryLedger(options.now),
    rules,
    changes: new MemoryChangeLog(),
    close: async () => {
      await rules.close();
      await db.root.close();
    },
  };
  return guardBackend(backend, { timeoutMs: options.storeTimeoutMs, logger, name: 'disk', isOutage: (err) => !isWriteRefusal(err) });
}

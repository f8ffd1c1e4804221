// `--store disk:PATH`: the cache in an LMDB file under PATH that outlives the process and that
// every worker on the host opens: one cache per host. Entries (entry-store.ts), rules and the
// change history live in the durable environment; fill locks and the isolate ledger in the volatile
// one beside it (open.ts), so one fill per URL holds across the host's processes. The guard turns a failing database into StoreUnavailable (served uncached); a write that
// fails for lack of space or permission is not an outage: lookups keep hitting, and the state
// change is logged once.
import { StoreUnavailable } from '../../errors.js';
import type { Logger } from '../../observe/log.js';
import { guardBackend } from '../guarded.js';
import type { Backend } from '../types.js';
import { DiskChangeLog } from './change-log.js';
import { DiskCoordination, DiskLedger, DiskRuleStore } from './coordination.js';
import { DiskEntryStore } from './entry-store.js';
import { openDiskDatabases, openVolatileDatabases } from './open.js';
import { OtherProcesses } from './other-processes.js';
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
  const volatile = openVolatileDatabases(options.dir);
  const writes = new WriteHealth(options.dir, logger, options.now);
  const entries = new DiskEntryStore(db, {
    dir: options.dir,
    cacheSizeBytes: options.cacheSizeBytes,
    now: options.now,
    onCorrupt: (url, problem) => logger.warn('disk store dropped a damaged entry', { url, problem }),
    onDropped: (count, reason) => logger.warn('disk store starts empty: its entries were dropped', { dir: options.dir, entries: count, reason }),
  });
  // Constructed after the entry store, whose start reads the file: this process is in LMDB's
  // reader table before it serves, so the other workers see it (other-processes.ts).
  const others = new OtherProcesses(db.root, Date.now);
  const rules = new DiskRuleStore<Rules>(db);
  const changes = new DiskChangeLog(db);
  const backend: Backend<Rules> = {
    kind: 'disk',
    entries: writes.watch(entries),
    coordination: new DiskCoordination(volatile, options.now, others, options.dir),
    ledger: new DiskLedger(volatile, options.now),
    rules,
    changes,
    close: async () => {
      changes.close();
      await rules.close();
      await volatile.root.close();
      await db.root.close();
    },
  };
  // A commit slower than --store-timeout (fsync behind a busy disk) still completes: that call is
  // served uncached, but it is no outage, and reads (synchronous, from the map) keep hitting.
  return guardBackend(backend, { timeoutMs: options.storeTimeoutMs, logger, name: 'disk', isOutage: (err) => !isWriteRefusal(err) && !isTimeout(err) });
}

function isTimeout(err: unknown): boolean {
  return err instanceof StoreUnavailable && / timed out after /.test(err.message);
}

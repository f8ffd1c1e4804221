// A disk that fills up or a directory that turns read-only refuses writes while reads still work:
// that is not an outage (the guard's breaker stays closed, hits keep coming from disk), but it is
// logged once when writes start failing and once when they work again. While refused, new bodies
// are not even tried, except one every RETRY_MS: each failed commit costs a write of the body and
// a line that lmdb-js prints itself.
import type { Logger } from '../../observe/log.js';
import type { EntryStore } from '../types.js';

// errno codes and LMDB's own: no space, over quota, read-only, no permission, file too large (a
// file-size limit), map full, and the I/O error a full tmpfs (or a failing disk) gives a commit;
// reads that fail still open the breaker.
const REFUSALS = /\b(ENOSPC|EDQUOT|EROFS|EACCES|EPERM|EIO|EFBIG|MDB_MAP_FULL)\b|No space left|Read-only file system|Permission denied|File too large|Input\/output error|Commit failed/i;

const RETRY_MS = 5000;

/** A write not tried because the last one was refused (counts as a refusal: no outage). */
export class WriteSkipped extends Error {
  readonly code = 'ENOSPC';
}

export function isWriteRefusal(err: unknown): boolean {
  const error = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  if (!error) return false;
  if (typeof error.code === 'string' && REFUSALS.test(error.code)) return true;
  if (typeof error.message === 'string' && REFUSALS.test(error.message)) return true;
  return error.cause !== undefined && error.cause !== err && isWriteRefusal(error.cause);
}

export class WriteHealth {
  private failing = false;
  private retryAt = 0;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The store with its writes watched: a refusal is logged on the change of state, then rethrown. */
  watch(store: EntryStore): EntryStore {
    const guard = <A extends unknown[]>(write: (...args: A) => Promise<void> | void, skippable = true) => async (...args: A): Promise<void> => {
      if (skippable && this.failing && this.now() < this.retryAt) throw new WriteSkipped(`disk store refused the last write; next try in ${this.retryAt - this.now()} ms`);
      try {
        await write(...args);
      } catch (err) {
        if (isWriteRefusal(err)) this.refused(err);
        throw err;
      }
      this.worked();
    };
    return {
      lookup: (url, variantOf) => store.lookup(url, variantOf),
      put: guard(store.put.bind(store)),
      refresh: guard(store.refresh.bind(store)),
      // Always tried: a purge or an invalidation that could have worked must not be skipped.
      invalidate: guard(store.invalidate.bind(store), false),
      ...(store.variants && { variants: store.variants.bind(store) }),
      ...(store.scanPage && { scanPage: store.scanPage.bind(store) }),
      ...(store.maxBodyBytes && { maxBodyBytes: store.maxBodyBytes.bind(store) }),
      ...(store.usage && { usage: store.usage.bind(store) }),
      close: () => store.close(),
    };
  }

  private refused(err: unknown): void {
    this.retryAt = this.now() + RETRY_MS;
    if (this.failing) return;
    this.failing = true;
    this.logger.warn('disk store cannot write: serving what is stored, storing nothing new', { dir: this.dir, reason: err instanceof Error ? err.message : String(err) });
  }

  private worked(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.info('disk store writing again', { dir: this.dir });
  }
}

// `--workers N` with the memory store, a worker's side. Hits, puts and refreshes use this
// worker's own memory cache, synchronously as in one process; fill locks stay per worker too
// (each worker fills its cache once per URL). The rest goes to the primary over the cluster IPC
// channel (primary.ts): the rules (a save reaches every worker's onChange), the isolate ledger,
// the change history, and entry calls that must see every worker's cache: invalidate (after
// unsafe methods, DELETE /cache, PURGE), variants (GET /cache shows every worker's copies) and
// the purge walk. Those calls are guarded like Redis (guarded.ts): a deadline, a breaker, and a
// primary link that fails degrades as a store outage does, never failing a client request.
import { StoreUnavailable } from '../../errors.js';
import type { Logger } from '../../observe/log.js';
import { guardBackend } from '../guarded.js';
import { MemoryChangeLog } from '../memory/change-log.js';
import { MemoryCoordination } from '../memory/coordination.js';
import { MemoryEntryStore } from '../memory/entry-store.js';
import type { Backend, ChangeEvent, ChangeLog, CheckSummary, EntryStore, ScannedEntry, StoredVariant } from '../types.js';
import { isStoreMessage, reasonOf, type LocalOp, type Outcome, type PrimaryChannel, type SharedOp, type StoreMessage } from './messages.js';
import { sendToPrimary } from '../../ipc-send.js';

export interface ClusterMemoryBackendOptions {
  /** --cache-size: this worker's own cap. */
  cacheSizeBytes: number;
  storeTimeoutMs: number;
  logger: Logger;
  now: () => number;
  /** Default: this cluster worker's IPC channel (`process`). */
  channel?: PrimaryChannel;
}

export const processChannel: PrimaryChannel = {
  connected: () => !!process.send && process.connected,
  send: (message, sent) => sendToPrimary(message, sent),
  onMessage: (listener) => {
    process.on('message', listener);
    return () => void process.off('message', listener);
  },
};

export function createClusterMemoryBackend<Rules>(options: ClusterMemoryBackendOptions): Backend<Rules> {
  const local = new MemoryEntryStore(options.cacheSizeBytes);
  const channel = options.channel ?? processChannel;
  const link = new PrimaryLink(channel, options.storeTimeoutMs);
  // Fill locks per worker: a cross-process lock would only collapse fills of separate caches.
  const fills = new MemoryCoordination(options.now);
  const stopAnswering = answerPrimary(channel, local);

  const listeners = new Set<(rules: Rules) => void>();
  const onRulesChanged = (message: unknown) => {
    if (isStoreMessage(message, 'store-rules-changed')) for (const listener of listeners) listener(message.rules as Rules);
  };
  const stopRules = channel.onMessage(onRulesChanged);

  const changes: ChangeLog = {
    append: (event, urlKey) => link.call('changes.append', event, urlKey) as Promise<ChangeEvent>,
    history: (urlKey) => link.call('changes.history', urlKey) as Promise<ChangeEvent[]>,
    after: (afterId, limit) => link.call('changes.after', afterId, limit) as Promise<ChangeEvent[]>,
    // Pure arithmetic on the id shape: no need to ask.
    cursorAt: (time) => new MemoryChangeLog().cursorAt(time),
    latest: () => link.call('changes.latest') as Promise<string>,
    checkedUnchanged: (urlKey, time, count) => link.call('changes.checkedUnchanged', urlKey, time, count ?? 1) as Promise<void>,
    checks: (urlKey) => link.call('changes.checks', urlKey) as Promise<CheckSummary>,
    watch: (listener) =>
      channel.onMessage((message) => {
        if (isStoreMessage(message, 'store-change-appended')) listener(message.id);
      }),
  };
  const fleetEntries: EntryStore = {
    lookup: (url, variantOf) => local.lookup(url, variantOf),
    put: (address, entry, ttlMs) => local.put(address, entry, ttlMs),
    refresh: (address, meta, ttlMs, fill, revalidated) => local.refresh(address, meta, ttlMs, fill, revalidated),
    invalidate: async (url) => void (await link.call('entries.invalidate', url)),
    variants: (url) => link.call('entries.variants', url) as Promise<StoredVariant[]>,
    // Every worker's keys in one page, as the memory store does in one process.
    scanPage: async () => ({ cursor: '0', entries: (await link.call('entries.scan')) as ScannedEntry[] }),
    close: async () => undefined,
  };
  const shared = guardBackend<Rules>(
    {
      kind: 'memory',
      entries: fleetEntries,
      coordination: fills,
      ledger: {
        recordServed: (client, key, validator, ttlMs) => link.call('ledger.recordServed', client, key, validator, ttlMs) as Promise<void>,
        wasServed: (client, key, validator) => link.call('ledger.wasServed', client, key, validator) as Promise<boolean>,
      },
      rules: {
        load: () => link.call('rules.load') as Promise<Rules | undefined>,
        save: (rules) => link.call('rules.save', rules) as Promise<void>,
        onChange: (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        close: async () => listeners.clear(),
      },
      changes,
      close: async () => {
        stopRules();
        stopAnswering();
        link.close();
      },
    },
    { timeoutMs: options.storeTimeoutMs, logger: options.logger, name: 'primary' },
  );
  return {
    ...shared,
    entries: {
      // The hit path stays local and unguarded, exactly as with one process.
      lookup: fleetEntries.lookup,
      put: fleetEntries.put,
      refresh: fleetEntries.refresh,
      usage: () => local.usage(),
      hold: (entry) => local.hold(entry),
      reserveBody: (length) => local.reserveBody(length),
      maxBodyBytes: (headers) => local.maxBodyBytes(headers),
      invalidate: async (url) => {
        // Removed here even when the primary cannot be reached; the others hear of it through it.
        await local.invalidate(url);
        await shared.entries.invalidate(url);
      },
      variants: shared.entries.variants!,
      scanPage: shared.entries.scanPage!,
      close: () => local.close(),
    },
    coordination: fills,
    close: async () => {
      await shared.close();
      await local.close();
    },
  };
}

/** The primary's requests of this worker's own cache. */
function answerPrimary(channel: PrimaryChannel, local: MemoryEntryStore): () => void {
  const run = async (op: LocalOp, args: unknown[]): Promise<unknown> => {
    if (op === 'invalidate') return local.invalidate(String(args[0]));
    if (op === 'variants') return local.variants(String(args[0]));
    const all: ScannedEntry[] = [];
    let cursor = '0';
    do {
      const page = await local.scanPage();
      all.push(...page.entries);
      cursor = page.cursor;
    } while (cursor !== '0');
    return all;
  };
  return channel.onMessage((message: unknown) => {
    if (!isStoreMessage(message, 'store-local')) return;
    const reply = (outcome: Outcome) => channel.connected() && channel.send({ etagProxy: 'store-local-reply', id: message.id, ...outcome } satisfies StoreMessage);
    run(message.op, message.args).then(
      (value) => reply({ ok: true, value }),
      (error: unknown) => reply({ ok: false, error: reasonOf(error) }),
    );
  });
}

/** Request and reply over process.send, matched by id; a reply that does not come is a timeout. */
class PrimaryLink {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private readonly stopListening: () => void;
  private readonly onMessage = (message: unknown) => {
    if (!isStoreMessage(message, 'store-reply')) return;
    const call = this.waiting.get(message.id);
    if (!call) return;
    this.finish(message.id);
    if (message.ok) call.resolve(message.value);
    else call.reject(new Error(message.error));
  };

  /** The guard's deadline usually fires first; this one only keeps the table from growing. */
  constructor(
    private readonly channel: PrimaryChannel,
    private readonly timeoutMs: number,
  ) {
    this.stopListening = channel.onMessage(this.onMessage);
  }

  call(op: SharedOp, ...args: unknown[]): Promise<unknown> {
    if (!this.channel.connected()) return Promise.reject(new StoreUnavailable('no link to the primary process'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.finish(id);
        reject(new Error(`the primary did not answer ${op} in time`));
      }, this.timeoutMs * 2);
      this.waiting.set(id, { resolve, reject, timer });
      this.channel.send({ etagProxy: 'store-call', id, op, args } satisfies StoreMessage, (error) => {
        if (!error) return;
        this.finish(id);
        reject(error);
      });
    });
  }

  private finish(id: number): void {
    const call = this.waiting.get(id);
    if (call) clearTimeout(call.timer);
    this.waiting.delete(id);
  }

  close(): void {
    this.stopListening();
    for (const [id, call] of this.waiting) {
      this.finish(id);
      call.reject(new StoreUnavailable('the store was closed'));
    }
  }
}

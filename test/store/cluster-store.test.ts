// --workers with the memory store, in one process: the primary's side (store/cluster/primary.ts)
// and several workers' backends (worker-backend.ts) joined by an in-process fabric that copies
// every message through JSON, as node:cluster's IPC does. The store contracts run against the
// worker backend (its entries are local, invalidation goes round the primary; ledger and rules
// live in the primary), then what only the fleet has: every worker's copies, one change history,
// and a link that fails.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { StoreUnavailable } from '../../src/errors.js';
import { createLogger } from '../../src/observe/log.js';
import type { PrimaryChannel, StoreMessage, WorkerChannels, WorkerPeer } from '../../src/store/cluster/messages.js';
import { serveClusterStore } from '../../src/store/cluster/primary.js';
import { createClusterMemoryBackend } from '../../src/store/cluster/worker-backend.js';
import type { Backend } from '../../src/store/types.js';
import { coordinationContract, sharedStoreSubject, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, freshUrl, sampleEntry } from '../contracts/entry-store.contract.js';
import { startProxy } from '../helpers/proxy.js';
import { eventually, sleep } from '../helpers/respond.js';
import { subscribe } from '../helpers/sse.js';

const copy = (message: StoreMessage): unknown => JSON.parse(JSON.stringify(message));

/** node:cluster's shape without processes: messages are delivered later, as copies. */
function fabric() {
  const toPrimary: Array<(peer: WorkerPeer, message: unknown) => void> = [];
  const exits: Array<(peer: WorkerPeer) => void> = [];
  type FabricWorker = { peer: WorkerPeer; listeners: Set<(message: unknown) => void>; connected: boolean };
  const workers = new Map<number, FabricWorker>();
  let nextId = 0;
  const channels: WorkerChannels = {
    peers: () => [...workers.values()].map((w) => w.peer),
    onMessage: (listener) => void toPrimary.push(listener),
    onExit: (listener) => void exits.push(listener),
  };
  return {
    channels,
    /** A new worker's channel to the primary. */
    join(): { id: number; channel: PrimaryChannel; leave(): void; cut(): void } {
      const id = ++nextId;
      const listeners = new Set<(message: unknown) => void>();
      const worker: FabricWorker = {
        listeners,
        connected: true,
        peer: {
          id,
          connected: () => worker.connected,
          send: (message: StoreMessage, sent?: (error: Error | null) => void) => {
            const delivered = copy(message);
            setImmediate(() => worker.connected && listeners.forEach((listener) => listener(delivered)));
            sent?.(null);
          },
        } satisfies WorkerPeer,
      };
      workers.set(id, worker);
      const channel: PrimaryChannel = {
        connected: () => worker.connected,
        send: (message, sent) => {
          const delivered = copy(message);
          setImmediate(() => toPrimary.forEach((listener) => listener(worker.peer, delivered)));
          sent?.(null);
        },
        onMessage: (listener) => {
          listeners.add(listener);
          return () => void listeners.delete(listener);
        },
      };
      return {
        id,
        channel,
        leave: () => {
          worker.connected = false;
          workers.delete(id);
          exits.forEach((listener) => listener(worker.peer));
        },
        // The primary stops answering this worker: messages go nowhere.
        cut: () => {
          channel.send = (_message, sent) => sent?.(null);
        },
      };
    },
  };
}

const logger = createLogger('silent');

/** A primary serving the store to the workers that join its fabric. */
function fleet(): ReturnType<typeof fabric> {
  const net = fabric();
  serveClusterStore({ fanOutTimeoutMs: 200, channels: net.channels });
  return net;
}
const net = fleet();

function worker<Rules = ContractRules>(cacheSizeBytes = 16 * 1024 * 1024, on = net): { backend: Backend<Rules>; cut(): void; close(): Promise<void> } {
  const joined = on.join();
  const backend = createClusterMemoryBackend<Rules>({ cacheSizeBytes, storeTimeoutMs: 500, logger, now: Date.now, channel: joined.channel });
  return {
    backend,
    cut: joined.cut,
    close: async () => {
      await backend.close();
      joined.leave();
    },
  };
}

entryStoreContract('memory per worker, invalidated through the primary', async () => {
  const one = worker();
  return { store: one.backend.entries, cleanup: one.close };
});

// Ledger and rules live in the primary (one per subject, so each starts empty); the peer and a
// restarted worker are other workers of that primary.
const fleets = new Map<string, ReturnType<typeof fleet>>();
coordinationContract(
  'memory store shared through the primary',
  sharedStoreSubject(async (store) => {
    if (!fleets.has(store)) fleets.set(store, fleet());
    const one = worker(undefined, fleets.get(store));
    return { ...one.backend, close: one.close };
  }),
);

describe('the memory store across workers', () => {
  const started: Array<{ close(): Promise<void> }> = [];
  const start = () => {
    const made = worker<unknown>();
    started.push(made);
    return made;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((made) => made.close()));
  });

  it('lists every worker\'s copy of a URL, and an invalidation from one removes it from all', async () => {
    const [a, b] = [start(), start()];
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    await a.backend.entries.put(address, sampleEntry(Buffer.from('from a'), { storedBy: 'a' }), 60_000);
    await b.backend.entries.put(address, sampleEntry(Buffer.from('from b'), { storedBy: 'b' }), 60_000);
    const variants = await a.backend.entries.variants!(url);
    expect(variants.map((v) => v.meta.storedBy).sort()).toEqual(['a', 'b']);
    const scanned = await b.backend.entries.scanPage!('0', 500);
    expect(scanned.cursor).toBe('0');
    expect(scanned.entries.filter((e) => e.url === url)).toHaveLength(1); // once, though two workers hold it

    await b.backend.entries.invalidate(url);
    expect(await a.backend.entries.lookup(url, () => '')).toBeUndefined();
    expect(await b.backend.entries.lookup(url, () => '')).toBeUndefined();
    expect(await a.backend.entries.variants!(url)).toEqual([]);
  });

  it('keeps one change history: what one worker appends, another reads, with ids in order', async () => {
    const [a, b] = [start(), start()];
    const url = freshUrl();
    const side = { etag: '"x"', lastModified: null, digest: 'sha-256=:AA==:' };
    const before = await b.backend.changes!.latest();
    const first = await a.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"y"' }, size: 1, client: null }, url);
    const second = await b.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"z"' }, size: 1, client: 'c' }, url);
    expect((await a.backend.changes!.history(url)).map((e) => e.id)).toEqual([first.id, second.id]);
    expect((await b.backend.changes!.after(before, 10)).map((e) => e.id)).toEqual([first.id, second.id]);
    expect(await a.backend.changes!.latest()).toBe(second.id);
    await b.backend.changes!.checkedUnchanged(url, Date.now());
    expect((await a.backend.changes!.checks(url)).unchanged).toBe(1);
  });

  it('tells every worker of a change any worker appends (ChangeLog.watch), by its id', async () => {
    const [a, b] = [start(), start()];
    const heard: Array<string | undefined> = [];
    const stop = a.backend.changes!.watch((id) => heard.push(id));
    const side = { etag: '"x"', lastModified: null, digest: 'sha-256=:AA==:' };
    const url = freshUrl();
    const appended = await b.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"y"' }, size: 1, client: null }, url);
    await eventually(() => heard.includes(appended.id));
    stop();
    await b.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"z"' }, size: 1, client: null }, url);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toEqual([appended.id]);
  });

  it('streams /changes/stream from a worker with no read of the history while idle; a change another worker appends reaches every subscriber', async () => {
    const [a, b] = [start(), start()];
    const proxy = await startProxy({}, { backend: a.backend as Backend<never> });
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, logger);
    const streams = [0, 1, 2].map(() => subscribe(`${admin.url}/changes/stream`));
    try {
      for (const stream of streams) expect(await stream.ready).toBe(200);
      await sleep(300);
      const after = vi.spyOn(a.backend.changes!, 'after');
      await sleep(1000);
      expect(after).not.toHaveBeenCalled();
      const side = { etag: '"x"', lastModified: null, digest: 'sha-256=:AA==:' };
      const url = freshUrl();
      const appended = await b.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"y"' }, size: 1, client: null }, url);
      for (const stream of streams) await eventually(() => stream.events.some((e) => e.id === appended.id));
      expect(after.mock.calls.length).toBeLessThanOrEqual(2);
      after.mockRestore();
    } finally {
      for (const stream of streams) stream.close();
      await admin.close();
      await proxy.stop();
    }
  });

  it('a worker whose primary does not answer keeps its own cache and fails shared calls with StoreUnavailable', async () => {
    const a = start();
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    await a.backend.entries.put(address, sampleEntry(Buffer.from('kept')), 60_000);
    a.cut();
    expect((await a.backend.entries.lookup(url, () => ''))?.entry.body.toString()).toBe('kept');
    await expect(a.backend.ledger.wasServed('c', url, '"v1"')).rejects.toBeInstanceOf(StoreUnavailable);
    // The breaker is open now: the next call fails at once, without waiting for the deadline.
    const startedAt = Date.now();
    await expect(a.backend.rules.load()).rejects.toBeInstanceOf(StoreUnavailable);
    expect(Date.now() - startedAt).toBeLessThan(400);
    // An invalidation still removes the worker's own copy.
    await expect(a.backend.entries.invalidate(url)).rejects.toBeInstanceOf(StoreUnavailable);
    expect(await a.backend.entries.lookup(url, () => '')).toBeUndefined();
  });
});

// `--workers N` with the memory store, the primary's side: it holds the small shared state (the
// rule document, the isolate ledger, the change history) in the memory implementations, answers
// each worker's calls over the cluster IPC channel, and fans entry calls (invalidate, variants,
// the purge walk) out to every worker, whose caches stay in the workers (worker-backend.ts), and
// tells every worker of each change appended.
import cluster, { type Worker } from 'node:cluster';
import { MemoryChangeLog } from '../memory/change-log.js';
import { MemoryLedger, MemoryRuleStore } from '../memory/coordination.js';
import type { ChangeEvent, ScannedEntry } from '../types.js';
import { isStoreMessage, reasonOf, type LocalOp, type Outcome, type SharedOp, type StoreMessage, type WorkerChannels, type WorkerPeer } from './messages.js';
import { sendOver } from '../../ipc-send.js';

export interface ClusterStoreOptions {
  /**
   * How long a fan-out waits for each worker. Shorter than the workers' --store-timeout, so one
   * busy worker leaves its count out of the answer rather than open every worker's breaker
   * (the message still reaches it, and it still acts on it).
   */
  fanOutTimeoutMs: number;
  /** Default: node:cluster's workers. */
  channels?: WorkerChannels;
}

const peerOf = (worker: Worker): WorkerPeer => ({
  id: worker.id,
  connected: () => worker.isConnected(),
  send: (message, sent) => sendOver(worker, message, sent),
});

export const clusterChannels: WorkerChannels = {
  peers: () => Object.values(cluster.workers ?? {}).flatMap((worker) => (worker ? [peerOf(worker)] : [])),
  onMessage: (listener) => void cluster.on('message', (worker: Worker, message: unknown) => listener(peerOf(worker), message)),
  onExit: (listener) => void cluster.on('exit', (worker: Worker) => listener(peerOf(worker))),
};

interface Gathering {
  waiting: Set<number>;
  values: unknown[];
  done: () => void;
}

export function serveClusterStore(options: ClusterStoreOptions): void {
  const channels = options.channels ?? clusterChannels;
  const rules = new MemoryRuleStore<unknown>();
  const ledger = new MemoryLedger();
  const changes = new MemoryChangeLog();
  // Every append nudges every worker (one small message each): a worker's change feed then reads
  // once for all its subscribers (admin/change-feed.ts); a worker without subscribers ignores it.
  changes.watch((id) => {
    for (const worker of channels.peers()) {
      if (worker.connected()) worker.send({ etagProxy: 'store-change-appended', id: id! } satisfies StoreMessage);
    }
  });
  const gatherings = new Map<number, Gathering>();
  let nextGathering = 0;

  /** Ask every connected worker; resolves with the answers that came in time. */
  const fanOut = (op: LocalOp, args: unknown[]): Promise<unknown[]> =>
    new Promise((resolve) => {
      const workers = channels.peers().filter((peer) => peer.connected());
      const id = ++nextGathering;
      const gathering: Gathering = { waiting: new Set(workers.map((w) => w.id)), values: [], done: () => undefined };
      const timer = setTimeout(() => gathering.done(), options.fanOutTimeoutMs);
      gathering.done = () => {
        clearTimeout(timer);
        gatherings.delete(id);
        resolve(gathering.values);
      };
      gatherings.set(id, gathering);
      if (!workers.length) return gathering.done();
      for (const worker of workers) worker.send({ etagProxy: 'store-local', id, op, args } satisfies StoreMessage, (error) => error && settle(worker.id, id, undefined));
    });

  const settle = (workerId: number, id: number, value: unknown) => {
    const gathering = gatherings.get(id);
    if (!gathering?.waiting.delete(workerId)) return;
    if (value !== undefined) gathering.values.push(value);
    if (!gathering.waiting.size) gathering.done();
  };

  const run = async (op: SharedOp, args: unknown[]): Promise<unknown> => {
    switch (op) {
      case 'rules.load':
        return rules.load();
      case 'rules.save': {
        await rules.save(args[0]);
        for (const worker of channels.peers()) {
          if (worker.connected()) worker.send({ etagProxy: 'store-rules-changed', rules: args[0] } satisfies StoreMessage);
        }
        return undefined;
      }
      case 'ledger.recordServed':
        return ledger.recordServed(String(args[0]), String(args[1]), String(args[2]), Number(args[3]));
      case 'ledger.wasServed':
        return ledger.wasServed(String(args[0]), String(args[1]), String(args[2]));
      case 'changes.append':
        return changes.append(args[0] as Omit<ChangeEvent, 'id'>, String(args[1]));
      case 'changes.history':
        return changes.history(String(args[0]));
      case 'changes.after':
        return changes.after(String(args[0]), Number(args[1]));
      case 'changes.latest':
        return changes.latest();
      case 'changes.checkedUnchanged':
        return changes.checkedUnchanged(String(args[0]), Number(args[1]), Number(args[2] ?? 1));
      case 'changes.checks':
        return changes.checks(String(args[0]));
      case 'entries.invalidate':
        // How many workers removed it; the URL is gone from every worker that answered.
        return (await fanOut('invalidate', args)).length;
      case 'entries.variants':
        return (await fanOut('variants', args)).flat();
      case 'entries.scan': {
        // A URL several workers hold is listed once, so a purge counts URLs, not copies.
        const byUrl = new Map<string, ScannedEntry>();
        for (const entry of (await fanOut('scan', args)).flat() as ScannedEntry[]) {
          if (!byUrl.get(entry.url)?.href) byUrl.set(entry.url, entry); // the one that names its URL
        }
        return [...byUrl.values()];
      }
      default:
        throw new Error(`unknown store call ${String(op)}`);
    }
  };

  channels.onMessage((worker, message) => {
    if (isStoreMessage(message, 'store-local-reply')) {
      settle(worker.id, message.id, message.ok ? (message.value ?? null) : undefined);
      return;
    }
    if (!isStoreMessage(message, 'store-call')) return;
    const reply = (outcome: Outcome) => {
      if (worker.connected()) worker.send({ etagProxy: 'store-reply', id: message.id, ...outcome } satisfies StoreMessage);
    };
    run(message.op, message.args).then(
      (value) => reply({ ok: true, value }),
      (error: unknown) => reply({ ok: false, error: reasonOf(error) }),
    );
  });
  // A worker that exits answers no more: what it still owed is left out.
  channels.onExit((worker) => {
    for (const id of [...gatherings.keys()]) settle(worker.id, id, undefined);
  });
}

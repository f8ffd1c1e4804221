// The messages between the workers and the primary for `--workers N` with the memory store
// (primary.ts, worker-backend.ts). Every type starts with `store-`, so they never clash with the
// metrics collection (observe/cluster-metrics.ts) or the `watch` / `ready` messages (cli/serve.ts).

/** What the primary keeps for the fleet (ledger, rules, change history) or gathers from every worker (entries). */
export type SharedOp =
  | 'rules.load'
  | 'rules.save'
  | 'ledger.recordServed'
  | 'ledger.wasServed'
  | 'changes.append'
  | 'changes.history'
  | 'changes.after'
  | 'changes.latest'
  | 'changes.checkedUnchanged'
  | 'changes.checks'
  | 'entries.invalidate'
  | 'entries.variants'
  | 'entries.scan';

/** What the primary asks of each worker's own entry cache. */
export type LocalOp = 'invalidate' | 'variants' | 'scan';

export type Outcome = { ok: true; value?: unknown } | { ok: false; error: string };

export type StoreMessage =
  /** worker → primary */
  | { etagProxy: 'store-call'; id: number; op: SharedOp; args: unknown[] }
  /** primary → the worker that called */
  | ({ etagProxy: 'store-reply'; id: number } & Outcome)
  /** primary → every worker */
  | { etagProxy: 'store-local'; id: number; op: LocalOp; args: unknown[] }
  /** worker → primary */
  | ({ etagProxy: 'store-local-reply'; id: number } & Outcome)
  /** primary → every worker: the rules were saved (RuleStore.onChange) */
  | { etagProxy: 'store-rules-changed'; rules: unknown }
  /** primary → every worker: a change event was appended (ChangeLog.watch), by its id */
  | { etagProxy: 'store-change-appended'; id: string };

export function isStoreMessage<T extends StoreMessage['etagProxy']>(value: unknown, type: T): value is Extract<StoreMessage, { etagProxy: T }> {
  return typeof value === 'object' && value !== null && (value as { etagProxy?: unknown }).etagProxy === type;
}

export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A worker's line to the primary: `process` in a cluster worker; an in-process pair in tests. */
export interface PrimaryChannel {
  connected(): boolean;
  send(message: StoreMessage, sent?: (error: Error | null) => void): void;
  onMessage(listener: (message: unknown) => void): () => void;
}

/** One worker, as the primary sees it. */
export interface WorkerPeer {
  id: number;
  connected(): boolean;
  send(message: StoreMessage, sent?: (error: Error | null) => void): void;
}

/** The primary's lines to its workers: node:cluster; an in-process fabric in tests. */
export interface WorkerChannels {
  peers(): WorkerPeer[];
  onMessage(listener: (peer: WorkerPeer, message: unknown) => void): void;
  onExit(listener: (peer: WorkerPeer) => void): void;
}

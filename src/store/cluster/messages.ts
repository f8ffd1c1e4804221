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
  | { etagProxy: 'store-rules-changed'; rules: unknown };

export function isStoreMessage<T extends StoreMessage['etagProxy']>(value: unknown, type: T): value is Extract<StoreMessage, { etagProxy: T }> {
  return typeof value === 'object' && value !== null && (value as { etagProxy?: unknown }).etagProxy === type;
}

export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

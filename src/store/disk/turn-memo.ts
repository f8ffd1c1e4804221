// Hits answered in this turn of the event loop, by key. lmdb-js reads a whole turn from one read
// transaction (renewed at the turn's first read, reset by a timer after it), so a record read
// again in the same turn is the same bytes: keeping the answer skips the B-tree read, the key's
// encoding and the comparison of the record's bytes for every further hit on that key in the
// turn (under load a turn serves many requests). Emptied when the turn ends (setImmediate, before
// lmdb-js's own reset) and by every write this process makes, at its start and when it commits.
export class TurnMemo<V> {
  private readonly kept = new Map<string, V>();
  private emptying = false;

  get(key: string): V | undefined {
    return this.kept.get(key);
  }

  set(key: string, value: V): void {
    this.kept.set(key, value);
    if (this.emptying) return;
    this.emptying = true;
    setImmediate(() => {
      this.emptying = false;
      this.kept.clear();
    });
  }

  clear(): void {
    // Map.clear allocates a new table even when empty, and every write calls this.
    if (this.kept.size > 0) this.kept.clear();
  }
}

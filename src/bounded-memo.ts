// Memos keyed by what clients and origins send (URLs, client ids, hosts, validators) are bounded
// by bytes as well as by count: ten thousand 8 KB URLs must not hold 80 MB. A memo is an LRU
// (lru-cache) whose entries are sized as string lengths plus a fixed overhead, an estimate;
// an entry larger than a sixteenth of the budget is not kept (it is computed again each time).
// Every memo made here is listed by memoUsage(), for the tests and anyone measuring.
import { LRUCache } from 'lru-cache';

/** lru-cache's own arrays and Map slot, the key's and value's object headers (an estimate). */
const ENTRY_OVERHEAD_BYTES = 100;

export interface MemoUsage {
  name: string;
  entries: number;
  bytes: number;
  maxBytes: number;
}

/** What memoUsage() reads of a memo, whatever its value type. */
type AnyMemo = Pick<LRUCache<string, NonNullable<unknown>>, 'size' | 'calculatedSize' | 'maxSize'>;
// Listed weakly: a memo of a rule set replaced at run time goes with it.
const made = new Set<{ name: string; ref: WeakRef<AnyMemo> }>();
const forget = new FinalizationRegistry<{ name: string; ref: WeakRef<AnyMemo> }>((entry) => made.delete(entry));

/**
 * An LRU of at most `max` entries and about `maxBytes`; `sizeOfValue` estimates a value's own
 * bytes beyond the overhead (string lengths it holds alone).
 */
export function boundedMemo<V extends NonNullable<unknown>>(name: string, max: number, maxBytes: number, sizeOfValue: (value: V) => number = () => 0): LRUCache<string, V> {
  const cache = new LRUCache<string, V>({
    max,
    maxSize: maxBytes,
    maxEntrySize: Math.floor(maxBytes / 16),
    sizeCalculation: (value, key) => ENTRY_OVERHEAD_BYTES + key.length + sizeOfValue(value),
  });
  const entry = { name, ref: new WeakRef<AnyMemo>(cache) };
  made.add(entry);
  forget.register(cache, entry);
  return cache;
}

/** Every live memo: its entries and estimated bytes against its budget. */
export function memoUsage(): MemoUsage[] {
  const out: MemoUsage[] = [];
  for (const { name, ref } of made) {
    const cache = ref.deref();
    if (cache) out.push({ name, entries: cache.size, bytes: cache.calculatedSize, maxBytes: cache.maxSize });
  }
  return out;
}

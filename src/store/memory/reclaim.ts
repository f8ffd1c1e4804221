// Keeps the memory store's footprint near its cap under churn (`npm run soak`): a full GC once
// the store has evicted a budget of bytes, and a young generation that stops growing at
// 2 x 4 MiB once the store takes writes. Why: V8 frees an evicted body only at a GC and starts
// one for external memory only after 64 MiB of growth (kExternalAllocationSoftLimit), and the
// young generation grows to 2 x 16 MiB under misses. Neither acts on a hit (no write, no eviction).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'async' }) => unknown;

const MIB = 1024 * 1024;
// Young-generation size (both semi-spaces) past which it may not grow further.
const YOUNG_GENERATION_CAP = 8 * MIB;
// Writes between two looks at the young generation's size, until it is capped.
const WRITES_PER_LOOK = 16;

let collect: Collect | null | undefined;
let youngGenerationCapped = false;

/**
 * V8's gc(): the one `--expose-gc` installs, or else the same function taken from a fresh
 * context after setting the flag at run time (the flag applies to contexts created after it).
 */
function v8Collect(): Collect | null {
  if (collect !== undefined) return collect;
  const exposed = (globalThis as { gc?: Collect }).gc;
  if (exposed) return (collect = exposed);
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    collect = typeof fn === 'function' ? (fn as Collect) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * --max-semi-space-size is read only when the heap is set up, but the growth factor is read at
 * each growth: setting it to 1 once the young generation reached its cap stops it there.
 */
function capYoungGeneration(): void {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  if (!young || young.space_size < YOUNG_GENERATION_CAP) return;
  setFlagsFromString('--semi-space-growth-factor=1');
  youngGenerationCapped = true;
}

export class Reclaimer {
  private evicted = 0;
  private writes = 0;
  /** Full GCs this reclaimer asked for (the soak and tests read it). */
  requested = 0;

  /** The budget of evicted bytes between full GCs: 1/16 of the cache, within 4 … 64 MiB. */
  constructor(
    cacheBytes: number,
    readonly budget = Math.min(64 * MIB, Math.max(4 * MIB, Math.floor(cacheBytes / 16))),
  ) {}

  /** An entry was written to the store. */
  noteWrite(): void {
    if (youngGenerationCapped || ++this.writes % WRITES_PER_LOOK !== 0) return;
    capYoungGeneration();
  }

  /** `bytes` of entries left the cache to make room: once past the budget, collect. */
  noteEvicted(bytes: number): void {
    this.evicted += bytes;
    if (this.evicted < this.budget) return;
    this.evicted = 0;
    const gc = v8Collect();
    if (!gc) return;
    this.requested++;
    // 'async' runs the GC as a task of its own, not inside the request whose write evicted.
    gc({ type: 'major', execution: 'async' });
  }
}

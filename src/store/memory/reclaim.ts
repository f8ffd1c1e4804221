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
// Evictions seen since the last look of the churn timer (null: no timer, heuristics as default).
let evictionsSinceLook: number | null = null;
// How long without an eviction before V8's default heuristics come back.
const CHURN_LOOK_MS = 1000;

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

// V8's --semi-space-growth-factor when nothing set it.
const DEFAULT_GROWTH_FACTOR = 2;
let heldWhileStarting = false;

/**
 * Loading the CLI's modules (undici, prom-client, yargs) grows the young generation to 2 x 16 MiB
 * before the first request, past the cap below, and those pages stay resident (6 MB of the
 * soak's peak RSS). The CLI holds its growth from its first import (cli/hold-heap.ts) until a
 * second after it listens (releaseYoungGeneration); from then on it grows as V8 decides, up to
 * the cap once the store evicts.
 */
export function holdYoungGenerationWhileStarting(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  heldWhileStarting = true;
}

export function releaseYoungGeneration(): void {
  if (!heldWhileStarting) return;
  heldWhileStarting = false;
  if (!youngGenerationCapped) setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
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

/**
 * While the store evicts, V8's heap heuristics favour memory over speed (--optimize-for-size,
 * read at each allocation-limit check): incremental marking starts as soon as the old
 * generation passes its activation threshold, so evicted bodies are freed sooner, and full GCs
 * compact more. The churn soak's peak RSS fell from cap + 98..101 MiB to cap + 81..82 MiB.
 * That costs CPU on every request, so a timer (not the hit path) turns it off again once a
 * second has passed with no eviction: a warm cache serving hits runs with the defaults.
 */
function noteChurn(): void {
  if (evictionsSinceLook !== null) {
    evictionsSinceLook++;
    return;
  }
  evictionsSinceLook = 0;
  setFlagsFromString('--optimize-for-size');
  const timer = setInterval(() => {
    if (evictionsSinceLook! > 0) {
      evictionsSinceLook = 0;
      return;
    }
    clearInterval(timer);
    evictionsSinceLook = null;
    setFlagsFromString('--no-optimize-for-size');
  }, CHURN_LOOK_MS);
  timer.unref();
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
    noteChurn();
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

// A Redis that is down, dies, freezes or comes back, with a private redis-server killed and
// restarted by pid: every store call settles within --store-timeout as a value or
// StoreUnavailable, the breaker fails fast while down, and "store down" / "store up" are logged
// once per change of state, never per call.
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/errors.js';
import type { LogFields, Logger } from '../../src/observe/log.js';
import { createClient } from '@redis/client';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import { entryKey } from '../../src/store/redis/entry-store.js';
import type { Backend } from '../../src/store/types.js';
import { sampleEntry } from '../contracts/entry-store.contract.js';
import { startOwnRedisServer, testNamespace, type OwnRedisServer } from '../helpers/redis.js';

const STORE_TIMEOUT_MS = 200;
// Room for a busy test machine's event loop; a hanging call would take seconds.
const SETTLE_MARGIN_MS = 150;

function recordingLogger(): Logger & { count(msg: string): number } {
  const lines: Array<{ level: string; msg: string; fields?: LogFields }> = [];
  const at = (level: string) => (msg: string, fields?: LogFields) => void lines.push({ level, msg, fields });
  return {
    enabled: () => true,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    count: (msg) => lines.filter((line) => line.msg === msg).length,
  };
}

type Outcome = { ok: boolean; ms: number; error?: unknown };

// A memory store's lookup may answer synchronously; every other call returns a promise.
async function timed(call: () => unknown): Promise<Outcome> {
  const started = performance.now();
  try {
    await call();
    return { ok: true, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, ms: performance.now() - started, error };
  }
}

function expectSettledInTime(outcomes: Outcome[]): void {
  for (const outcome of outcomes) {
    if (!outcome.ok) expect(outcome.error).toBeInstanceOf(StoreUnavailable);
    expect(outcome.ms).toBeLessThan(STORE_TIMEOUT_MS + SETTLE_MARGIN_MS);
  }
}

/** Calls lookup until one succeeds; how long that took, or Infinity. */
async function untilUsable(backend: Backend, withinMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if ((await timed(() => backend.entries.lookup('probe', () => 'x'))).ok) return Date.now() - started;
    await delay(50);
  }
  return Infinity;
}

const everyKindOfCall = (backend: Backend): Array<() => unknown> => [
  () => backend.entries.lookup('u', () => 'v'),
  () => backend.entries.put({ url: 'u', vary: null, variant: null }, sampleEntry(Buffer.from('x')), 60_000),
  () => backend.entries.refresh({ url: 'u', vary: null, variant: null }, sampleEntry(Buffer.from('x')).meta, 60_000),
  () => backend.entries.invalidate('u'),
  () => backend.coordination.acquireFill('u', 1000),
  () => backend.coordination.isFilling('u'),
  () => backend.ledger.recordServed('c', 'u', '"e"', 1000),
  () => backend.ledger.wasServed('c', 'u', '"e"'),
  () => backend.rules.load(),
  () => backend.rules.save({}),
];

describe('Redis outage', () => {
  let server: OwnRedisServer | undefined;
  let backend: Backend | undefined;

  afterEach(async () => {
    await backend?.close();
    await server?.kill();
    backend = undefined;
    server = undefined;
  });

  it('starts while Redis is down, fails fast with StoreUnavailable, and works once Redis is up', async () => {
    server = await startOwnRedisServer();
    await server.kill();
    const logger = recordingLogger();

    const creating = performance.now();
    backend = await createRedisBackend({ url: server.url, namespace: testNamespace('outage-start'), storeTimeoutMs: STORE_TIMEOUT_MS, logger });
    expect(performance.now() - creating).toBeLessThan(1000);

    const outcomes: Outcome[] = [];
    for (let round = 0; round < 4; round++) {
      outcomes.push(...(await Promise.all(everyKindOfCall(backend).map(timed))));
      await delay(200); // lets the breaker probe a few times
    }
    expect(outcomes.every((outcome) => !outcome.ok)).toBe(true);
    expectSettledInTime(outcomes);
    expect(logger.count('store down')).toBe(1);
    expect(logger.count('store up')).toBe(0);

    await server.restart();
    expect(await untilUsable(backend, 5000)).toBeLessThan(5000);
    const url = 'after-restart';
    await backend.entries.put({ url, vary: null, variant: null }, sampleEntry(Buffer.from('back')), 60_000);
    expect((await backend.entries.lookup(url, () => 'x'))?.entry.body.toString()).toBe('back');
    expect(logger.count('store down')).toBe(1);
    expect(logger.count('store up')).toBe(1);
  });

  it('a Redis unreachable at start is said at start and again periodically until it answers, then no more', async () => {
    server = await startOwnRedisServer();
    await server.kill();
    const logger = recordingLogger();
    backend = await createRedisBackend({ url: server.url, namespace: testNamespace('outage-loud'), storeTimeoutMs: STORE_TIMEOUT_MS, logger, unreachableWarningMs: 200 });
    expect(logger.count('store unreachable at start: serving without a cache until it answers')).toBe(1);
    // A proxy reads its rules at start: the breaker opens, and logs "store up" once Redis answers.
    expect((await timed(() => backend!.rules.load())).ok).toBe(false);
    await delay(700);
    const again = 'store still unreachable: nothing is cached until it answers';
    expect(logger.count(again)).toBeGreaterThanOrEqual(2);

    await server.restart();
    expect(await untilUsable(backend, 5000)).toBeLessThan(5000);
    const said = logger.count(again);
    await delay(600);
    expect(logger.count(again)).toBe(said);
    expect(logger.count('store up')).toBe(1);
  });

  it('settles every call within the deadline when Redis dies mid-traffic, and logs down and up once', async () => {
    server = await startOwnRedisServer();
    const logger = recordingLogger();
    const live = await createRedisBackend({ url: server.url, namespace: testNamespace('outage-kill'), storeTimeoutMs: STORE_TIMEOUT_MS, logger });
    backend = live;
    await live.entries.put({ url: 'u', vary: null, variant: null }, sampleEntry(Buffer.from('x')), 60_000);

    const outcomes: Outcome[] = [];
    let successesAfterRestart = 0;
    let restarted = false;
    let running = true;
    const calls = everyKindOfCall(live);
    const worker = async (offset: number) => {
      for (let i = offset; running; i++) {
        const outcome = await timed(calls[i % calls.length] ?? calls[0]!);
        outcomes.push(outcome);
        if (restarted && outcome.ok) successesAfterRestart++;
        await delay(2); // the breaker answers at once; give timers a turn
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i));

    await delay(300);
    expect(outcomes.filter((o) => o.ok).length).toBeGreaterThan(0);
    expect(logger.count('store down')).toBe(0);
    await server.kill();
    await delay(800);
    expect(logger.count('store down')).toBe(1);
    await server.restart();
    restarted = true;
    const deadline = Date.now() + 5000;
    while (successesAfterRestart < 20 && Date.now() < deadline) await delay(50);
    running = false;
    await Promise.all(workers);

    expect(successesAfterRestart).toBeGreaterThanOrEqual(20);
    expect(outcomes.some((o) => !o.ok)).toBe(true);
    expectSettledInTime(outcomes);
    expect(logger.count('store down')).toBe(1);
    expect(logger.count('store up')).toBe(1);
  });

  it('times out calls to a frozen Redis, then fails fast until it thaws', async () => {
    server = await startOwnRedisServer();
    const logger = recordingLogger();
    const live = await createRedisBackend({ url: server.url, namespace: testNamespace('outage-freeze'), storeTimeoutMs: STORE_TIMEOUT_MS, logger });
    backend = live;
    expect(await untilUsable(live, 1000)).toBeLessThan(1000);

    server.pause();
    try {
      const first = await timed(() => live.entries.lookup('u', () => 'v'));
      expect(first.ok).toBe(false);
      expect(first.error).toBeInstanceOf(StoreUnavailable);
      expect(first.ms).toBeGreaterThanOrEqual(STORE_TIMEOUT_MS - 5);
      expectSettledInTime([first]);
      expect(logger.count('store down')).toBe(1);
      // The breaker is open: no call waits for the deadline again.
      const fast = await Promise.all(Array.from({ length: 20 }, () => timed(() => live.entries.lookup('u', () => 'v'))));
      expect(fast.every((o) => !o.ok && o.ms < 50)).toBe(true);
    } finally {
      server.resume();
    }
    expect(await untilUsable(live, 3000)).toBeLessThan(3000);
    expect(logger.count('store down')).toBe(1);
    expect(logger.count('store up')).toBe(1);
  });

  it('does not take a Redis that answers with an error reply for a Redis that is down', async () => {
    server = await startOwnRedisServer();
    const logger = recordingLogger();
    const namespace = testNamespace('outage-reply');
    const live = await createRedisBackend({ url: server.url, namespace, storeTimeoutMs: STORE_TIMEOUT_MS, logger });
    backend = live;
    const raw = createClient({ url: server.url });
    raw.on('error', () => {});
    await raw.connect();
    try {
      await raw.hSet(entryKey(namespace, 'wrong-type'), 'field', 'a hash where a string belongs');
    } finally {
      raw.destroy();
    }
    const failed = await timed(() => live.entries.lookup('wrong-type', () => 'x'));
    expect(failed.ok).toBe(false);
    expect(failed.error).toBeInstanceOf(StoreUnavailable);
    expect(String((failed.error as Error).message)).toMatch(/WRONGTYPE/);
    expect(logger.count('store down')).toBe(0);
    // The breaker stayed closed: the next call reaches Redis.
    await live.entries.put({ url: 'fine', vary: null, variant: null }, sampleEntry(Buffer.from('ok')), 60_000);
    expect((await live.entries.lookup('fine', () => 'x'))?.entry.body.toString()).toBe('ok');
  });
});

// The Redis backend's Lua scripts go by SHA1 (EVALSHA) and survive a server that forgot them:
// after SCRIPT FLUSH (as after a restart, a failover or on a new Cluster node) every script call
// still works, by EVAL once, and later calls are EVALSHA again. A private redis-server, since
// SCRIPT FLUSH and the command counters are server-wide.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@redis/client';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend } from '../../src/store/types.js';
import { freshUrl, sampleEntry, sampleMeta } from '../contracts/entry-store.contract.js';
import { startOwnRedisServer, testNamespace, type OwnRedisServer } from '../helpers/redis.js';

let server: OwnRedisServer;
let backend: Backend;
let raw: ReturnType<typeof createClient>;
const namespace = testNamespace('redis-scripts');

beforeAll(async () => {
  server = await startOwnRedisServer();
  raw = createClient({ url: server.url });
  await raw.connect();
  backend = await createRedisBackend({ url: server.url, namespace, storeTimeoutMs: 5000, logger: silentLogger, nearCacheBytes: 0 });
});
afterAll(async () => {
  await backend?.close();
  raw?.destroy();
  await server?.kill();
});

/** Calls of EVAL and EVALSHA since the server started (INFO commandstats). */
async function evalCalls(): Promise<{ eval: number; evalsha: number }> {
  const stats = await raw.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

/** Every script the backend runs outside MULTI: refresh, lock release, invalidation. */
async function everyScriptCall(url: string): Promise<void> {
  const address = { url, vary: null, variant: null };
  await backend.entries.put(address, sampleEntry(Buffer.from('body')), 60_000);
  await backend.entries.refresh(address, sampleMeta({ etag: '"v2"' }), 60_000);
  const lock = await backend.coordination.acquireFill(url, 60_000);
  expect(lock).not.toBeNull();
  await lock!.release();
  expect(await backend.coordination.isFilling(url)).toBe(false);
  const found = await backend.entries.lookup(url, () => 'none');
  expect(found?.entry.meta.etag).toBe('"v2"');
  expect(found?.entry.body.toString()).toBe('body');
  await backend.entries.invalidate(url);
  expect(await backend.entries.lookup(url, () => 'none')).toBeUndefined();
}

describe('Lua scripts by SHA1', () => {
  it('sends a script the server holds as EVALSHA, without its source', async () => {
    await everyScriptCall(freshUrl()); // the server learns each script (by EVAL at most once)
    const before = await evalCalls();
    await everyScriptCall(freshUrl());
    const after = await evalCalls();
    expect(after.evalsha - before.evalsha).toBe(3); // refresh, release, invalidate
    // The put's MULTI still carries its script as EVAL (see scripts.ts evalInTransaction).
    expect(after.eval - before.eval).toBe(1);
  });

  it('still refreshes, releases and invalidates after SCRIPT FLUSH, then goes back to EVALSHA', async () => {
    await everyScriptCall(freshUrl());
    await raw.scriptFlush();
    const flushed = await evalCalls();
    await everyScriptCall(freshUrl());
    const relearnt = await evalCalls();
    // Each of the three: a NOSCRIPT EVALSHA, then EVAL; plus the put's EVAL.
    expect(relearnt.evalsha - flushed.evalsha).toBe(3);
    expect(relearnt.eval - flushed.eval).toBe(3 + 1);
    await everyScriptCall(freshUrl());
    const again = await evalCalls();
    expect(again.evalsha - relearnt.evalsha).toBe(3);
    expect(again.eval - relearnt.eval).toBe(1);
  });

  it('keeps a varying URL\'s put and refresh atomic and working after SCRIPT FLUSH', async () => {
    const url = freshUrl();
    await raw.scriptFlush();
    for (const variant of ['a', 'b']) {
      await backend.entries.put({ url, vary: ['accept'], variant }, sampleEntry(Buffer.from(variant)), 60_000);
    }
    await raw.scriptFlush();
    await backend.entries.refresh({ url, vary: ['accept'], variant: 'b' }, sampleMeta({ etag: '"b2"' }), 60_000);
    const found = await backend.entries.lookup(url, () => 'b');
    expect(found?.entry.meta.etag).toBe('"b2"');
    expect(found?.entry.body.toString()).toBe('b');
    await raw.scriptFlush();
    await backend.entries.invalidate(url);
    expect(await raw.keys(`${namespace}:e2:{${url}}*`)).toEqual([]);
  });
});

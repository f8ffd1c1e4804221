// A revalidation on the Redis store: the refresh and the release of the fill lock are one
// script, one round trip, and the lock is never seen gone before the refreshed entry is there.
// What must not change with it: another proxy instance on the same Redis waits for the first
// one's refresh instead of sending its own request upstream, a lock taken over after its TTL
// expired is left alone, and a varying URL's lock shares its entry's Cluster slot.
// Command counts use a private redis-server (MONITOR sees the whole server).
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from '@redis/client';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import { fillLockKey } from '../../src/store/redis/fill-lock.js';
import { entryKey } from '../../src/store/redis/entry-store.js';
import type { Backend } from '../../src/store/types.js';
import { freshUrl, sampleEntry, sampleMeta } from '../contracts/entry-store.contract.js';
import { viaProxy, type ProxiedResponse } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually } from '../helpers/respond.js';
import { cleanNamespace, startOwnRedisServer, testNamespace, type OwnRedisServer } from '../helpers/redis.js';

let server: OwnRedisServer;
let backend: Backend;
let monitor: ReturnType<typeof createClient>;
const namespace = testNamespace('redis-revalidation');
/** Commands the server received from clients (not those a script ran), as MONITOR shows them. */
const seen: string[] = [];
/** Commands the scripts ran. */
const ranByScripts: string[] = [];

beforeAll(async () => {
  server = await startOwnRedisServer();
  backend = await createRedisBackend({ url: server.url, namespace, storeTimeoutMs: 5000, logger: silentLogger });
  monitor = createClient({ url: server.url });
  await monitor.connect();
  await monitor.monitor((line: string) => {
    if (!line.includes(namespace)) return;
    (/\[\d+ lua\]/.test(line) ? ranByScripts : seen).push(line.replace(/^.*?\] /, ''));
  });
  // A new server learns each script on first use (EVALSHA, NOSCRIPT, EVAL): not what is counted here.
  const warm = freshUrl();
  await backend.entries.refresh({ url: warm, vary: null, variant: null }, sampleMeta(), 60_000, (await backend.coordination.acquireFill(warm, 1000))!);
});
afterAll(async () => {
  await backend?.close();
  monitor?.destroy();
  await server?.kill();
});

/** The commands sent while `run` ran (MONITOR lines arrive a moment after the replies). */
async function commandsDuring(run: () => Promise<void>, scripts = false): Promise<string[]> {
  await delay(50);
  seen.length = 0;
  ranByScripts.length = 0;
  await run();
  await delay(100);
  return (scripts ? ranByScripts : seen).map((line) => /^"(\w+)"/.exec(line)?.[1]?.toUpperCase() ?? line);
}

describe('refresh in place on Redis', () => {
  // A second backend on the same server, whose near cache has never seen the entry: what it
  // reads is what Redis holds.
  async function readBack(url: string) {
    const other = await createRedisBackend({ url: server.url, namespace, storeTimeoutMs: 5000, logger: silentLogger });
    try {
      return await other.entries.lookup(url, () => 'none');
    } finally {
      await other.close();
    }
  }

  it('overwrites only version and meta when the meta keeps its length (the usual 304): the body is not copied', async () => {
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    const body = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => i % 251));
    const storedAt = Date.now();
    await backend.entries.put(address, sampleEntry(body, { storedAt }), 60_000);
    const refreshed = sampleMeta({ etag: '"v9"', bodyLength: body.length, storedAt: storedAt + 1 });
    const ran = await commandsDuring(async () => backend.entries.refresh(address, refreshed, 120_000), true);

    expect(ran).toEqual(['TYPE', 'GETRANGE', 'SETRANGE', 'PEXPIRE']);
    const found = await readBack(url);
    expect(found?.entry.meta).toEqual(refreshed);
    expect(found?.entry.body.equals(body)).toBe(true);
    const client = createClient({ url: server.url });
    await client.connect();
    try {
      expect(await client.pTTL(entryKey(namespace, url))).toBeGreaterThan(60_000);
    } finally {
      client.destroy();
    }
  });

  it('rewrites the whole record when the meta changes length, and the body still comes back byte for byte', async () => {
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    const body = Buffer.from('the stored body');
    await backend.entries.put(address, sampleEntry(body), 60_000);
    const longer = sampleMeta({ etag: '"a much longer validator than before"', bodyLength: body.length });
    const ran = await commandsDuring(async () => backend.entries.refresh(address, longer, 60_000), true);

    expect(ran).toEqual(['TYPE', 'GETRANGE', 'GETRANGE', 'SET']);
    const found = await readBack(url);
    expect(found?.entry.meta).toEqual(longer);
    expect(found?.entry.body.equals(body)).toBe(true);
  });
});

describe('refresh and fill lock on Redis', () => {
  it('releases the revalidation\'s fill lock in the refresh\'s own script: one round trip, nothing after it', async () => {
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    await backend.entries.put(address, sampleEntry(Buffer.from('body')), 60_000);
    const lock = await backend.coordination.acquireFill(url, 60_000);
    expect(lock).not.toBeNull();
    const sent = await commandsDuring(async () => {
      await backend.entries.refresh(address, sampleMeta({ etag: '"v2"', bodyLength: 4 }), 60_000, lock!);
      // Gone as soon as the refresh is written, and the refreshed entry is already there.
      expect(await backend.coordination.isFilling(url)).toBe(false);
      await lock!.release();
    });
    expect(sent).toEqual(['EVALSHA', 'EXISTS']);
    const found = await backend.entries.lookup(url, () => 'none');
    expect(found?.entry.meta.etag).toBe('"v2"');
    expect(found?.entry.body.toString()).toBe('body');
  });

  it('releases the lock even when the entry is gone (nothing to refresh), still in one round trip', async () => {
    const url = freshUrl();
    const lock = await backend.coordination.acquireFill(url, 60_000);
    const sent = await commandsDuring(async () => {
      await backend.entries.refresh({ url, vary: null, variant: null }, sampleMeta(), 60_000, lock!);
      await lock!.release();
    });
    expect(sent).toEqual(['EVALSHA']);
    expect(await backend.coordination.isFilling(url)).toBe(false);
    expect(await backend.entries.lookup(url, () => 'none')).toBeUndefined();
  });

  it('leaves alone a lock that expired and was taken by another holder', async () => {
    const url = freshUrl();
    const address = { url, vary: null, variant: null };
    await backend.entries.put(address, sampleEntry(Buffer.from('body')), 60_000);
    const expired = await backend.coordination.acquireFill(url, 50);
    await delay(120);
    const other = await createRedisBackend({ url: server.url, namespace, storeTimeoutMs: 5000, logger: silentLogger });
    try {
      const current = await other.coordination.acquireFill(url, 60_000);
      expect(current).not.toBeNull();
      await backend.entries.refresh(address, sampleMeta({ etag: '"v2"' }), 60_000, expired!);
      expect(await backend.coordination.isFilling(url)).toBe(true);
      await current!.release();
      expect(await backend.coordination.isFilling(url)).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('refreshes a variant and releases its lock together; the lock carries the URL\'s hash tag', async () => {
    const url = freshUrl();
    const address = { url, vary: ['accept'], variant: 'gz' };
    await backend.entries.put(address, sampleEntry(Buffer.from('variant')), 60_000);
    const lock = await backend.coordination.acquireFill(`${url}:gz`, 60_000);
    const sent = await commandsDuring(async () => backend.entries.refresh(address, sampleMeta({ etag: '"g2"' }), 60_000, lock!));
    expect(sent).toEqual(['EVALSHA']);
    expect(await backend.coordination.isFilling(`${url}:gz`)).toBe(false);
    expect((await backend.entries.lookup(url, () => 'gz'))?.entry.meta.etag).toBe('"g2"');
    // One Cluster slot for the script's keys: the same {<url>} tag as the entry keys.
    expect(fillLockKey('ns', `${url}:gz`).key).toBe(`ns:fill:{${url}}:gz`);
    expect(entryKey('ns', url, 'gz')).toBe(`ns:e2:{${url}}:gz`);
  });
});

describe('collapsed revalidation across two proxy instances on one Redis', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  const proxyNamespace = testNamespace('redis-revalidation-proxies');
  let origin: Origin;
  let a: TestProxy;
  let b: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    a = await startProxy({ store: server.url, namespace: proxyNamespace, storeTimeoutMs: 5000 }, { now: clock.now });
    b = await startProxy({ store: server.url, namespace: proxyNamespace, storeTimeoutMs: 5000 }, { now: clock.now });
  });
  afterEach(() => origin.requests.splice(0));
  afterAll(async () => {
    agent.destroy();
    await a?.stop();
    await b?.stop();
    await origin?.close();
    await cleanNamespace(server.url, proxyNamespace);
  });

  it('sends one revalidation upstream for concurrent stale requests on both, and B waits for A\'s refresh (RFC 9111 §4.3.4)', async () => {
    let answerRevalidation!: () => void;
    const revalidationAnswered = new Promise<void>((resolve) => (answerRevalidation = resolve));
    origin.route('/shared-stale', async (req, res) => {
      if (req.headers['if-none-match'] === '"s1"') {
        await revalidationAnswered;
        return void res.writeHead(304, { etag: '"s1"', 'cache-control': 'max-age=60' }).end();
      }
      res.writeHead(200, { etag: '"s1"', 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('shared stale body');
    });
    await viaProxy(a.url, `${origin.url}/shared-stale`, { agent });
    clock.advance(120);
    // A request that has joined its proxy's collapser waits for the fill in flight from then on.
    const joinsOnA = vi.spyOn(a.proxy.ctx.collapser, 'join');
    const joinsOnB = vi.spyOn(b.proxy.ctx.collapser, 'join');

    const first = viaProxy(a.url, `${origin.url}/shared-stale`, { agent });
    let others: ProxiedResponse[];
    try {
      await eventually(() => origin.requestsTo('/shared-stale').length === 2); // A holds the fill lock and waits for the origin
      const othersAnswered = Promise.all(Array.from({ length: 20 }, (_, i) => viaProxy(i % 2 ? a.url : b.url, `${origin.url}/shared-stale`, { agent })));
      // The origin answers A's revalidation once all 20 wait for it, however slow the machine.
      await eventually(() => joinsOnA.mock.calls.length === 11 && joinsOnB.mock.calls.length === 10, 10_000);
      answerRevalidation();
      others = await othersAnswered;
    } finally {
      answerRevalidation();
      joinsOnA.mockRestore();
      joinsOnB.mockRestore();
    }
    const answers = [await first, ...others];

    const seenByOrigin = origin.requestsTo('/shared-stale');
    expect(seenByOrigin).toHaveLength(2);
    expect(seenByOrigin[1]!.headers['if-none-match']).toBe('"s1"');
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('shared stale body');
    }
    const collapsedOnB = others.filter((answer, i) => i % 2 === 0 && /collapsed/.test(String(answer.headers['cache-status'])));
    expect(collapsedOnB).toHaveLength(10);
    // Both serve the refreshed entry as fresh afterwards.
    for (const proxy of [a, b]) expect((await viaProxy(proxy.url, `${origin.url}/shared-stale`, { agent })).headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/shared-stale')).toHaveLength(2);
  });
});

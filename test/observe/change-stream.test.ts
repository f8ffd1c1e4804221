// GET /changes/stream (Server-Sent Events) with two proxies sharing one Redis namespace, as two
// workers do: a change found through one arrives on the other's stream within a second; a
// reconnect with Last-Event-ID gets what it missed; ?host= filters; an unchanged 304 sends nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { sleep } from '../helpers/respond.js';
import { subscribe } from '../helpers/sse.js';

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
}

describe('GET /changes/stream across two proxies sharing Redis', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const namespace = testNamespace('change-stream');
  const state = { version: 1 };
  let redis: { url: string; stop(): Promise<void> };
  let origin: Origin;
  let otherOrigin: Origin;
  const backends: Array<Backend<StoredPolicies>> = [];
  let first: TestProxy;
  let second: TestProxy;
  let admin: AdminServer;

  beforeAll(async () => {
    redis = await redisForTests();
    const handler: Parameters<typeof startOrigin>[0] = {
      '*': (req, res) => {
        const etag = `"v${state.version}"`;
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'max-age=10' }).end();
        res.writeHead(200, { etag, 'cache-control': 'max-age=10' }).end(`version ${state.version}`);
      },
    };
    origin = await startOrigin(handler);
    otherOrigin = await startOrigin(handler);
    for (let i = 0; i < 2; i++) backends.push(await createRedisBackend<StoredPolicies>({ url: redis.url, namespace, storeTimeoutMs: 1000, logger: silentLogger }));
    first = await startProxy({ store: redis.url, namespace }, { now: clock.now, backend: backends[0]! });
    second = await startProxy({ store: redis.url, namespace }, { now: clock.now, backend: backends[1]! });
    // The stream is read on the *first* proxy; every change is found through the second.
    admin = await startAdminServer(first.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
  });
  afterAll(async () => {
    await admin.close();
    await first.stop();
    await second.stop();
    for (const backend of backends) await backend.close();
    await origin.close();
    await otherOrigin.close();
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
  });

  it('delivers a change found by the other proxy within one second, filtered by ?host=; a 304 sends nothing; Last-Event-ID resumes', async () => {
    const url = `${origin.url}/feed`;
    const elsewhere = `${otherOrigin.url}/feed`;
    await viaProxy(second.url, url);
    await viaProxy(second.url, elsewhere);

    const all = subscribe(`${admin.url}/changes/stream`);
    const onlyOrigin = subscribe(`${admin.url}/changes/stream?host=${encodeURIComponent(origin.host)}`);
    expect(await all.ready).toBe(200);
    expect(await onlyOrigin.ready).toBe(200);
    await sleep(300); // both streams are past their first read

    clock.advance(20);
    await viaProxy(second.url, url); // unchanged: 304
    await sleep(500);
    expect(all.events).toEqual([]);

    state.version = 2;
    clock.advance(20);
    const changedAt = Date.now();
    await viaProxy(second.url, url);
    await waitFor(() => all.events.length === 1, 1000);
    expect(all.events[0]!.at - changedAt).toBeLessThan(1000);
    expect(all.events[0]).toMatchObject({ event: 'change', data: { url, old: { etag: '"v1"' }, new: { etag: '"v2"' } } });
    expect(all.events[0]!.id).toBe(all.events[0]!.data.id);

    const lastSeen = all.events[0]!.id;
    all.close();
    // While the poller is away: the other origin's URL changes too.
    state.version = 3;
    clock.advance(20);
    await viaProxy(second.url, elsewhere);
    await viaProxy(second.url, url);
    await waitFor(() => onlyOrigin.events.length === 2, 1000);
    expect(onlyOrigin.events.map((e) => e.data.url)).toEqual([url, url]);

    const resumed = subscribe(`${admin.url}/changes/stream`, { 'last-event-id': lastSeen });
    expect(await resumed.ready).toBe(200);
    await waitFor(() => resumed.events.length === 2, 1000);
    expect(resumed.events.map((e) => [e.data.url, e.data.new.etag])).toEqual([
      [elsewhere, '"v3"'],
      [url, '"v3"'],
    ]);
    resumed.close();
    onlyOrigin.close();
  });

  it('refuses a malformed Last-Event-ID', async () => {
    const res = await fetch(`${admin.url}/changes/stream`, { headers: { 'last-event-id': 'nope' } });
    expect(res.status).toBe(400);
  });
});

// The ETag change history on the wire, memory and Redis: a 200 that replaces a stored response
// with another ETag (or body, or Last-Modified) is one event; an unchanged 304 revalidation is
// none; Repr-Digest (RFC 9530) is used as the body's digest when the origin sends it. Read back
// through GET /changes?url=, ?since= and ?after=.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { MAX_EVENT_CLIENT_CHARS, MAX_EVENT_URL_CHARS } from '../../src/store/change-bounds.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend, ChangeEvent } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { diskBackendForTests } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { eventually, sleep } from '../helpers/respond.js';

let redis: { url: string; stop(): Promise<void> };
const namespace = testNamespace('changes');
beforeAll(async () => {
  redis = await redisForTests();
});
afterAll(async () => {
  await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

const stores: Array<[string, () => Promise<Backend<StoredPolicies>>]> = [
  ['memory', async () => createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 24, now: Date.now })],
  ['redis', () => createRedisBackend<StoredPolicies>({ url: redis.url, namespace, storeTimeoutMs: 1000, logger: silentLogger })],
  ['disk', async () => diskBackendForTests<StoredPolicies>()],
];

describe.each(stores)('ETag change history (%s store)', (storeName, makeBackend) => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const state = { version: 1, reprDigest: undefined as string | undefined, body: undefined as string | undefined, always200: false, swr: false };
  let origin: Origin;
  let proxy: TestProxy;
  let admin: AdminServer;
  let backend: Backend<StoredPolicies>;
  let path = 0;

  beforeAll(async () => {
    origin = await startOrigin({
      '*': (req, res) => {
        const etag = `"v${state.version}"`;
        const headers: Record<string, string> = { etag, 'cache-control': state.swr ? 'max-age=10, stale-while-revalidate=60' : 'max-age=10' };
        if (state.reprDigest) headers['repr-digest'] = state.reprDigest;
        if (!state.always200 && req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
        res.writeHead(200, headers).end(state.body ?? `version ${state.version}`);
      },
    });
    backend = await makeBackend();
    proxy = await startProxy({}, { now: clock.now, backend });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
  });
  afterEach(() => Object.assign(state, { version: 1, reprDigest: undefined, body: undefined, always200: false, swr: false }));
  afterAll(async () => {
    await admin.close();
    await proxy.stop();
    await backend.close();
    await origin.close();
  });

  /**
   * No background job and no fill in flight. A client has its whole response before the leader
   * releases its fill lock (a store round trip with Redis); a request the fake clock sends 20 s
   * "later" must not find that fill still running, or its background revalidation would follow
   * it (as it should, in real time) and fetch nothing.
   */
  const settled = () => eventually(() => proxy.proxy.ctx.background.size === 0 && proxy.proxy.ctx.collapser.pending === 0);
  const readChanges = async (url: string) => {
    const res = await fetch(`${admin.url}/changes?url=${encodeURIComponent(url)}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { changes: ChangeEvent[] }).changes;
  };
  /**
   * The URL's history once it holds `expected` events. The event is appended from finish, which
   * may run after the client already has its whole response: poll rather than race it.
   */
  const changesOf = async (url: string, expected = 0) => {
    const deadline = Date.now() + 3000;
    for (;;) {
      await settled();
      const changes = await readChanges(url);
      if (changes.length >= expected || Date.now() > deadline) return changes;
      await sleep(20);
    }
  };

  it('records one event when a revalidation finds a new ETag, none for the first fetch or an unchanged 304', async () => {
    const url = `${origin.url}/page-${++path}`;
    // ?since= is read on the clock that stamps the ids: the proxy's (here the fake one, which the
    // other tests move ahead) for memory and disk, the Redis server's for Redis (XADD assigns them).
    const startedAt = storeName === 'redis' ? Date.now() : clock.now();
    await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'poller-1' } });
    clock.advance(20);
    const unchanged = await viaProxy(proxy.url, url);
    expect(unchanged.headers['cache-status']).toContain('fwd-status=304');
    expect(await changesOf(url)).toEqual([]);

    state.version = 2;
    clock.advance(20);
    const changed = await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'poller-1' } });
    expect(changed.text).toBe('version 2');
    const [event, ...more] = await changesOf(url, 1);
    expect(more).toEqual([]);
    expect(event).toMatchObject({ url, client: 'poller-1', size: 9, old: { etag: '"v1"', lastModified: null }, new: { etag: '"v2"', lastModified: null } });
    expect(event!.old.digest).toMatch(/^sha-256=:[A-Za-z0-9+/]+=*:$/);
    expect(event!.new.digest).not.toBe(event!.old.digest);
    expect(event!.time).toBe(clock.now());

    const since = await (await fetch(`${admin.url}/changes?since=${startedAt}`)).json() as { changes: ChangeEvent[]; last: string };
    expect(since.changes.map((c) => c.id)).toContain(event!.id);
    const after = await (await fetch(`${admin.url}/changes?after=${since.last}`)).json() as { changes: ChangeEvent[]; last: string };
    expect(after.changes).toEqual([]);
    expect(after.last).toBe(since.last);
  });

  it('a body that changed under the same ETag is a change (the digest settles it); the same body again is none', async () => {
    const url = `${origin.url}/same-tag-${++path}`;
    state.always200 = true; // an origin that answers 200 to every revalidation, keeping its tag
    state.body = 'first body';
    await viaProxy(proxy.url, url);
    state.body = 'second body';
    clock.advance(20);
    expect((await viaProxy(proxy.url, url)).text).toBe('second body');
    clock.advance(20);
    expect((await viaProxy(proxy.url, url)).text).toBe('second body');
    await sleep(50); // a second, wrong event would have time to land
    const changes = await changesOf(url, 1);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ size: 'second body'.length, old: { etag: '"v1"' }, new: { etag: '"v1"' } });
  });

  it('uses Repr-Digest (RFC 9530) as the digest when the origin sends one', async () => {
    const url = `${origin.url}/digest-${++path}`;
    state.reprDigest = 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:';
    await viaProxy(proxy.url, url);
    state.version = 4;
    state.reprDigest = 'sha-256=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=:';
    clock.advance(20);
    await viaProxy(proxy.url, url);
    const [event] = await changesOf(url, 1);
    expect(event!.old.digest).toBe('sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:');
    expect(event!.new.digest).toBe('sha-256=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=:');
  });

  it('an unchanged revalidation is no event but counts as checked, unchanged, with its time (a 304, or a 200 with the same body)', async () => {
    const url = `${origin.url}/checked-${++path}`;
    await viaProxy(proxy.url, url);
    const first = (await (await fetch(`${admin.url}/changes?url=${encodeURIComponent(url)}`)).json()) as { lastChecked: number | null; unchanged: number };
    expect(first).toMatchObject({ changes: [], lastChecked: null, unchanged: 0 });
    clock.advance(20);
    expect((await viaProxy(proxy.url, url)).headers['cache-status']).toContain('fwd-status=304');
    const readChecks = async () => (await (await fetch(`${admin.url}/changes?url=${encodeURIComponent(url)}`)).json()) as { changes: ChangeEvent[]; lastChecked: number | null; unchanged: number };
    const poll = async (unchanged: number) => {
      const deadline = Date.now() + 3000;
      for (;;) {
        await settled();
        const checks = await readChecks();
        if (checks.unchanged >= unchanged || Date.now() > deadline) return checks;
        await sleep(20);
      }
    };
    expect(await poll(1)).toEqual({ url, changes: [], lastChecked: clock.now(), unchanged: 1 });
    state.always200 = true; // the same representation again, as a 200
    clock.advance(20);
    await viaProxy(proxy.url, url);
    expect(await poll(2)).toEqual({ url, changes: [], lastChecked: clock.now(), unchanged: 2 });
    // A hit checks nothing.
    await viaProxy(proxy.url, url);
    await sleep(50);
    expect(await poll(2)).toMatchObject({ unchanged: 2, lastChecked: clock.now() });
  });

  it('records the change a background stale-while-revalidate refresh brings (RFC 5861), with the client that triggered it', async () => {
    const url = `${origin.url}/swr-${++path}`;
    state.swr = true;
    await viaProxy(proxy.url, url);
    await settled();
    state.version = 7;
    clock.advance(20);
    const stale = await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'poller-9' } });
    expect(stale.headers['cache-status']).toContain('hit');
    expect(stale.text).toBe('version 1'); // served stale; the refresh ran behind it
    const [event, ...more] = await changesOf(url, 1);
    expect(more).toEqual([]);
    expect(event).toMatchObject({ url, client: 'poller-9', old: { etag: '"v1"' }, new: { etag: '"v7"' } });
    expect((await viaProxy(proxy.url, url)).text).toBe('version 7');
  });

  it('keeps a long URL and a long client id cut to their bounds, flagged truncated, with well-formed JSON', async () => {
    const url = `${origin.url}/long-${++path}/${'u'.repeat(6 * 1024)}`;
    const client = `poller-${'c'.repeat(6 * 1024)}`;
    await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': client } });
    state.version = 2;
    clock.advance(20);
    await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': client } });
    const [event] = await changesOf(url, 1);
    expect(event).toMatchObject({ truncated: true, new: { etag: '"v2"' } });
    expect(event!.url).toBe(`${url.slice(0, MAX_EVENT_URL_CHARS - 1)}…`);
    expect(event!.client).toBe(`${client.slice(0, MAX_EVENT_CLIENT_CHARS - 1)}…`);
  });

  it('GET /cache says which process stored an entry and when', async () => {
    const url = `${origin.url}/stored-by-${++path}`;
    await viaProxy(proxy.url, url);
    const res = await fetch(`${admin.url}/cache?url=${encodeURIComponent(url)}`);
    expect(res.status).toBe(200);
    const { variants } = (await res.json()) as { variants: Array<{ storedAt: string; storedBy: string }> };
    expect(variants).toHaveLength(1);
    expect(variants[0]!.storedBy).toMatch(new RegExp(`^pid ${process.pid} on \\S+$`));
    expect(Date.parse(variants[0]!.storedAt)).toBe(clock.now());
  });

  it('answers 400 for a bad query', async () => {
    expect((await fetch(`${admin.url}/changes`)).status).toBe(400);
    expect((await fetch(`${admin.url}/changes?since=yesterday`)).status).toBe(400);
    expect((await fetch(`${admin.url}/changes?after=x`)).status).toBe(400);
  });
});

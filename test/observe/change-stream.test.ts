// GET /changes/stream (Server-Sent Events) with two proxies sharing one Redis namespace, as two
// workers do: a change found through one arrives on the other's stream within a second; a
// reconnect with Last-Event-ID gets what it missed; ?host= filters; an unchanged 304 sends nothing.
// Then, with the memory store and with Redis, the bounds of one process's fan-out: idle
// subscribers cost no read of the history, their number is capped (503), and one that does not
// read is dropped with a final event while a reading one beside it gets every event.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { changeFeedFor, MAX_SUBSCRIBER_BUFFER_BYTES, type ChangeFeed } from '../../src/admin/change-feed.js';
import { silentLogger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { MAX_EVENT_URL_CHARS } from '../../src/store/change-bounds.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend, ChangeEvent } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { diskBackendForTests } from '../helpers/disk.js';
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

const fanOutStores: Array<[string, (redisUrl: string) => Promise<Backend<StoredPolicies>>]> = [
  ['memory', async () => createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 24, now: Date.now })],
  ['redis', (url) => createRedisBackend<StoredPolicies>({ url, namespace: testNamespace('change-fan-out'), storeTimeoutMs: 1000, logger: silentLogger })],
  ['disk', async () => diskBackendForTests<StoredPolicies>()],
];

describe.each(fanOutStores)('GET /changes/stream: one reader per process for every subscriber (%s store)', (_name, makeBackend) => {
  const MAX_SUBSCRIBERS = 4;
  const state = { version: 1 };
  let redis: { url: string; stop(): Promise<void> };
  let origin: Origin;
  let backend: Backend<StoredPolicies>;
  let proxy: TestProxy;
  let admin: AdminServer;
  let adminPort: number;
  const feed = (): ChangeFeed => changeFeedFor(proxy.proxy.ctx.backend.changes!, { maxSubscribers: MAX_SUBSCRIBERS, logger: silentLogger });
  const side = { etag: '"a"', lastModified: null, digest: 'sha-256=:AA==:' };
  const append = (url: string, n: number) =>
    proxy.proxy.ctx.backend.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: `"${n}"` }, size: 1, client: 'pump' }, `key-${n % 7}`);

  beforeAll(async () => {
    redis = await redisForTests();
    origin = await startOrigin({
      '*': (req, res) => {
        const etag = `"v${state.version}"`;
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'max-age=0' }).end();
        res.writeHead(200, { etag, 'cache-control': 'max-age=0' }).end(`version ${state.version}`);
      },
    });
    backend = await makeBackend(redis.url);
    proxy = await startProxy({ maxChangeSubscribers: MAX_SUBSCRIBERS }, { backend });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    adminPort = Number(new URL(admin.url).port);
  });
  afterAll(async () => {
    await admin.close();
    await proxy.stop();
    await backend.close();
    await origin.close();
    await redis.stop();
  });
  // Streams closed by one test have left the feed before the next opens its own.
  const allClosed = () => waitFor(() => feed().stats().subscribers === 0, 3000);

  it('idle subscribers cost no read of the history; a change is read once and reaches every one of them', async () => {
    const url = `${origin.url}/idle-${Date.now()}`;
    await viaProxy(proxy.url, url);
    const streams = Array.from({ length: MAX_SUBSCRIBERS }, () => subscribe(`${admin.url}/changes/stream`));
    for (const stream of streams) expect(await stream.ready).toBe(200);
    await sleep(300); // every stream has joined
    const after = vi.spyOn(proxy.proxy.ctx.backend.changes!, 'after');
    try {
      await sleep(1200);
      // Polling each stream every 200 ms would have read it about 6 times per subscriber by now.
      expect(after).not.toHaveBeenCalled();

      state.version++;
      await viaProxy(proxy.url, url); // revalidated: a new ETag
      for (const stream of streams) await waitFor(() => stream.events.length === 1, 2000);
      for (const stream of streams) expect(stream.events[0]).toMatchObject({ event: 'change', data: { url, new: { etag: `"v${state.version}"` } } });
      expect(after.mock.calls.length).toBeLessThanOrEqual(3); // one reader (a nudge or two), not one per subscriber
      after.mockClear();
      await sleep(600);
      expect(after).not.toHaveBeenCalled();
    } finally {
      after.mockRestore();
      for (const stream of streams) stream.close();
    }
    await allClosed();
  });

  it('answers 503 past --max-change-subscribers, with a JSON body naming the limit; a closed stream frees its place', async () => {
    const streams = Array.from({ length: MAX_SUBSCRIBERS }, () => subscribe(`${admin.url}/changes/stream`));
    try {
      for (const stream of streams) expect(await stream.ready).toBe(200);
      const refused = await fetch(`${admin.url}/changes/stream`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.headers.get('retry-after')).toBe('10');
      const body = (await refused.json()) as { error: string };
      expect(body.error).toMatch(new RegExp(`--max-change-subscribers ${MAX_SUBSCRIBERS}\\b`));
      // A resume is refused the same way, before it reads anything.
      expect((await fetch(`${admin.url}/changes/stream`, { headers: { 'last-event-id': '0' } })).status).toBe(503);

      streams.pop()!.close();
      await waitFor(() => feed().stats().subscribers === MAX_SUBSCRIBERS - 1, 3000);
      const again = subscribe(`${admin.url}/changes/stream`);
      expect(await again.ready).toBe(200);
      streams.push(again);
    } finally {
      for (const stream of streams) stream.close();
    }
    await allClosed();
  });

  it('a subscriber resuming from Last-Event-ID while others follow reads its backlog, then the live events, with no gap and no repeat', async () => {
    const live = subscribe(`${admin.url}/changes/stream`);
    expect(await live.ready).toBe(200);
    await waitFor(() => feed().stats().live === 1, 3000);
    const base = `${origin.url}/resume-${Date.now()}`;
    const first: string[] = [];
    for (let n = 1; n <= 5; n++) first.push((await append(`${base}/${n}`, n)).id);
    await waitFor(() => live.events.length === 5, 3000);
    const resumed = subscribe(`${admin.url}/changes/stream`, { 'last-event-id': first[1]! });
    expect(await resumed.ready).toBe(200);
    for (let n = 6; n <= 8; n++) await append(`${base}/${n}`, n);
    await waitFor(() => resumed.events.length >= 6 && live.events.length === 8, 3000);
    await sleep(200);
    expect(resumed.events.map((e) => (e.data as ChangeEvent).url)).toEqual([3, 4, 5, 6, 7, 8].map((n) => `${base}/${n}`));
    expect(live.events.map((e) => (e.data as ChangeEvent).url)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `${base}/${n}`));
    live.close();
    resumed.close();
    await allClosed();
  });

  it('drops a subscriber that does not read, with a final event naming the last id sent; the reader beside it gets every event, and the buffer stays bounded', async () => {
    const reader = subscribe(`${admin.url}/changes/stream`);
    expect(await reader.ready).toBe(200);
    // A client that sends its request and then never reads.
    const stuck = net.connect(adminPort, '127.0.0.1');
    stuck.on('error', () => {});
    stuck.write(`GET /changes/stream HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\n\r\n`);
    stuck.pause();
    await waitFor(() => feed().stats().live === 2, 3000);
    const droppedBefore = feed().stats().dropped;

    // Events as large as the bounds let them be (2 KB URLs), until the stuck one is dropped.
    const longUrl = (n: number) => `${origin.url}/${String(n).padStart(6, '0')}/${'x'.repeat(MAX_EVENT_URL_CHARS)}`;
    let appended = 0;
    while (feed().stats().dropped === droppedBefore && appended < 20_000) {
      for (let i = 0; i < 50; i++) await append(longUrl(++appended), appended);
      await sleep(5);
    }
    expect(feed().stats().dropped).toBe(droppedBefore + 1);
    // What waited in the stuck socket never went past the bound by more than one event.
    expect(feed().stats().peakBufferedBytes).toBeLessThan(MAX_SUBSCRIBER_BUFFER_BYTES + 8 * 1024);

    // Read now: everything sent before the drop, then the final event, then the end of the stream.
    let text = '';
    stuck.setEncoding('utf8');
    stuck.on('data', (chunk: string) => (text += chunk));
    const ended = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
    stuck.resume();
    await ended;
    const blocks = text.split('\n\n').filter((block) => block.includes('event: '));
    const final = blocks.at(-1)!;
    expect(final).toMatch(/^id: \d+-\d+\nevent: dropped\ndata: /m);
    const data = JSON.parse(final.slice(final.indexOf('data: ') + 6)) as { reason: string; lastEventId: string };
    expect(data.reason).toMatch(/not reading/);
    const lastChange = blocks.at(-2)!;
    expect(data.lastEventId).toBe(/^id: (\S+)$/m.exec(lastChange)![1]);

    // The reader got every event, in order, while the other was stuck and after.
    await waitFor(() => reader.events.length === appended, 10_000);
    const numbers = reader.events.map((e) => Number(/\/(\d{6})\//.exec((e.data as ChangeEvent).url)![1]));
    expect(numbers).toEqual(Array.from({ length: appended }, (_, i) => i + 1));
    expect(reader.events.every((e) => e.event === 'change')).toBe(true);
    reader.close();
    await allClosed();
  }, 60_000);
});

// Offline and record on the wire: a crawl recorded with --record and replayed with --offline
// against a stopped origin gives byte-identical bodies, and 504 naming the URL for what was not
// recorded; offline: true on a URL rule or a client; record: true on a rule; store: false wins.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../src/index.js';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { Backend } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

const proxies: TestProxy[] = [];
const origins: Origin[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
  await Promise.all(origins.splice(0).map((o) => o.close()));
});

const BINARY = randomBytes(70_000);

/** A site a crawler would meet: pages that forbid or never allow reuse, and one with a good max-age. */
async function crawlSite(): Promise<Origin> {
  const origin = await startOrigin({
    '/bare': (_req, res) => void res.writeHead(200, { 'content-type': 'text/html', 'content-length': 6 }).end('<bare>'),
    '/no-store': (_req, res) => void res.writeHead(200, { 'cache-control': 'no-store', 'content-length': 9 }).end('no-store!'),
    '/no-cache': (_req, res) => void res.writeHead(200, { 'cache-control': 'no-cache', etag: '"n1"', 'content-length': 8 }).end('no-cache'),
    '/max-age': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 7 }).end('max-age'),
    '/binary': (_req, res) => void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BINARY),
    '/private': (req, res) => {
      const body = `for ${String(req.headers['cookie'])}`;
      res.writeHead(200, { 'cache-control': 'private', 'content-length': body.length }).end(body);
    },
    '/cart': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 4 }).end('cart'),
  });
  origins.push(origin);
  return origin;
}

async function proxyWith(overrides: Partial<ProxyConfig>, backend?: Backend<StoredPolicies>, clock = fakeClock()) {
  const started = await startProxy(overrides, { now: clock.now, ...(backend && { backend }) });
  proxies.push(started);
  return started;
}

const PAGES = ['/bare', '/no-store', '/no-cache', '/max-age', '/binary'];
// Per-client pages are keyed by a verified identity: a proxy user whose password is checked.
const USERS = { identity: { header: 'x-proxy-client', users: { alice: 'alice-pw', bob: 'bob-pw' }, requireAuth: false } };
const basic = (user: string) => ({ 'proxy-authorization': `Basic ${Buffer.from(`${user}:${user}-pw`).toString('base64')}` });

describe('--record, then --offline with the origin stopped', () => {
  it('replays byte-identical bodies, and answers 504 naming the URL for one never recorded', async () => {
    const clock = fakeClock();
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 64 * 1024 * 1024, now: clock.now });
    const origin = await crawlSite();
    const rules = parseCrawlRules('rules', [{ match: { host: '*', path: '/cart' }, store: false }]);
    const recorder = await proxyWith({ record: true, rules, ...USERS }, backend, clock);
    const recorded = new Map<string, Buffer>();
    for (const path of [...PAGES, '/cart']) {
      const res = await viaProxy(recorder.url, `${origin.url}${path}`);
      expect(res.status).toBe(200);
      recorded.set(path, res.body);
    }
    const alice = await viaProxy(recorder.url, `${origin.url}/private`, { headers: { ...basic('alice'), cookie: 'alice' } });
    // Recorded with no freshness: asked again while recording, it is fetched and recorded again.
    expect((await viaProxy(recorder.url, `${origin.url}/no-store`)).headers['cache-status']).toMatch(/fwd=stale; fwd-status=200.*recorded/);
    await recorder.stop();
    const host = origin.url;
    await origin.close();
    origins.length = 0;

    clock.advance(3600); // everything recorded is stale by now
    const replay = await proxyWith({ offline: true, rules, ...USERS }, backend, clock);
    for (const path of PAGES) {
      const res = await viaProxy(replay.url, `${host}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.body.equals(recorded.get(path)!), path).toBe(true);
      expect(res.headers['cache-status'], path).toMatch(/hit.*detail=.*offline/);
    }
    const aliceAgain = await viaProxy(replay.url, `${host}/private`, { headers: { ...basic('alice'), cookie: 'alice' } });
    expect(aliceAgain.text).toBe(alice.text);
    const bob = await viaProxy(replay.url, `${host}/private`, { headers: basic('bob') });
    expect(bob.status).toBe(504);
    const unrecorded = await viaProxy(replay.url, `${host}/never-crawled?page=2`);
    expect(unrecorded.status).toBe(504);
    expect(unrecorded.text).toBe(`504 offline: the proxy is offline and has nothing stored for ${host}/never-crawled?page=2\n`);
    // store: false still holds while recording: nothing was kept for it.
    expect((await viaProxy(replay.url, `${host}/cart`)).status).toBe(504);
    const post = await viaProxy(replay.url, `${host}/bare`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(504);
  });

  it('--record with no crawl rule says detail=recorded, never rule-override: not when storing, not on the replay', async () => {
    const clock = fakeClock();
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 16 * 1024 * 1024, now: clock.now });
    const origin = await crawlSite();
    const recorder = await proxyWith({ record: true }, backend, clock);
    for (const [path, headers] of [['/no-store', {}], ['/private', { 'x-proxy-client': 'alice', cookie: 'alice' }]] as const) {
      const stored = await viaProxy(recorder.url, `${origin.url}${path}`, { headers });
      expect(stored.headers['cache-status'], path).toMatch(/stored.*detail=recorded/);
      expect(stored.headers['cache-status'], path).not.toContain('rule-override');
    }
    const replay = await proxyWith({ offline: true }, backend, clock);
    const hit = await viaProxy(replay.url, `${origin.url}/no-store`);
    expect(hit.text).toBe('no-store!');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(hit.headers['cache-status']).not.toContain('rule-override');
    // A rule that names the override still says so, recording or not.
    const ruled = await proxyWith({ record: true, rules: parseCrawlRules('rules', [{ match: { host: '*', path: '/no-cache' }, override: ['no-cache'], defaultTtl: '1h' }]) }, backend, clock);
    expect((await viaProxy(ruled.url, `${origin.url}/no-cache`)).headers['cache-status']).toContain('rule-override');
  });

  it('without --record the same crawl leaves the no-store page unrecorded', async () => {
    const clock = fakeClock();
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 16 * 1024 * 1024, now: clock.now });
    const origin = await crawlSite();
    const plain = await proxyWith({}, backend, clock);
    await viaProxy(plain.url, `${origin.url}/no-store`);
    const replay = await proxyWith({ offline: true }, backend, clock);
    expect((await viaProxy(replay.url, `${origin.url}/no-store`)).status).toBe(504);
    expect(origin.requestsTo('/no-store')).toHaveLength(1);
  });

  it('recorded entries outlive their freshness in the store (kept as long as --keep-validators)', async () => {
    const clock = fakeClock();
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 16 * 1024 * 1024, now: clock.now });
    const origin = await crawlSite();
    const recorder = await proxyWith({ record: true, keepValidatorsMs: 3_600_000 }, backend, clock);
    await viaProxy(recorder.url, `${origin.url}/bare`);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the 1 s floor an unrecorded bare page would get
    const replay = await proxyWith({ offline: true }, backend, clock);
    expect((await viaProxy(replay.url, `${origin.url}/bare`)).text).toBe('<bare>');
  });
});

describe('record and replay through Redis (two proxy processes\' worth of state: a new proxy on the same namespace)', () => {
  let redis: { url: string; stop(): Promise<void> } | undefined;
  const namespace = testNamespace('crawl-replay');
  afterAll(async () => {
    if (!redis) return;
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
  });

  it('replays byte-identical bodies from Redis with the origin stopped; per-client pages stay per client', async () => {
    redis = await redisForTests();
    const origin = await crawlSite();
    const store = { store: redis.url, namespace, storeTimeoutMs: 2000 };
    const recorder = await proxyWith({ ...store, record: true, ...USERS });
    const recorded = new Map<string, Buffer>();
    for (const path of PAGES) recorded.set(path, (await viaProxy(recorder.url, `${origin.url}${path}`)).body);
    const alice = await viaProxy(recorder.url, `${origin.url}/private`, { headers: { ...basic('alice'), cookie: 'alice' } });
    await recorder.stop();
    proxies.length = 0;
    const host = origin.url;
    await origin.close();
    origins.length = 0;

    const replay = await proxyWith({ ...store, offline: true, ...USERS });
    for (const path of PAGES) {
      const res = await viaProxy(replay.url, `${host}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.body.equals(recorded.get(path)!), path).toBe(true);
    }
    expect((await viaProxy(replay.url, `${host}/private`, { headers: basic('alice') })).text).toBe(alice.text);
    expect((await viaProxy(replay.url, `${host}/private`, { headers: basic('bob') })).status).toBe(504);
  });
});

describe('offline on a rule or a client', () => {
  it('offline: true on a URL rule answers from the cache only, for its URLs only', async () => {
    const origin = await crawlSite();
    const p = await proxyWith({ rules: parseCrawlRules('rules', [{ match: { host: '*', path: '/max-age' }, offline: true }]) });
    expect((await viaProxy(p.url, `${origin.url}/max-age`)).status).toBe(504);
    expect((await viaProxy(p.url, `${origin.url}/bare`)).status).toBe(200);
    expect(origin.requestsTo('/max-age')).toHaveLength(0);
    expect(origin.requestsTo('/bare')).toHaveLength(1);
  });

  it('offline: true on a client rule; a URL rule saying offline: false wins over --offline', async () => {
    const origin = await crawlSite();
    const p = await proxyWith({
      policies: { default: {}, clients: [{ match: 'replayer', offline: true }], hosts: [] },
      rules: parseCrawlRules('rules', [{ match: { host: '*', path: '/bare' }, offline: false }]),
    });
    await viaProxy(p.url, `${origin.url}/max-age`);
    const replayer = await viaProxy(p.url, `${origin.url}/max-age`, { headers: { 'x-proxy-client': 'replayer' } });
    expect(replayer.headers['cache-status']).toMatch(/hit.*offline/);
    expect((await viaProxy(p.url, `${origin.url}/no-cache`, { headers: { 'x-proxy-client': 'replayer' } })).status).toBe(504);
    expect(origin.requestsTo('/no-cache')).toHaveLength(0);
    const all = await proxyWith({ offline: true, rules: parseCrawlRules('rules', [{ match: { host: '*', path: '/bare' }, offline: false }]) });
    expect((await viaProxy(all.url, `${origin.url}/bare`)).status).toBe(200);
    expect((await viaProxy(all.url, `${origin.url}/cart`)).status).toBe(504);
  });

  it('record: true on a rule stores its no-store pages only', async () => {
    const clock = fakeClock();
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 16 * 1024 * 1024, now: clock.now });
    const origin = await crawlSite();
    origin.route('/other-no-store', (_req, res) => void res.writeHead(200, { 'cache-control': 'no-store', 'content-length': 2 }).end('ns'));
    const p = await proxyWith({ rules: parseCrawlRules('rules', [{ match: { host: '*', path: '/no-store' }, record: true }]) }, backend, clock);
    const first = await viaProxy(p.url, `${origin.url}/no-store`);
    expect(first.headers['cache-status']).toMatch(/stored.*detail=.*recorded/);
    await viaProxy(p.url, `${origin.url}/other-no-store`);
    const replay = await proxyWith({ offline: true }, backend, clock);
    expect((await viaProxy(replay.url, `${origin.url}/no-store`)).text).toBe('no-store!');
    expect((await viaProxy(replay.url, `${origin.url}/other-no-store`)).status).toBe(504);
  });
});

// GET /metrics and GET /stats on the wire: the counters move as a scripted sequence of requests
// says they should (miss, hit, a strip policy dropping If-None-Match, revalidate-304,
// stale-if-error, an unsafe method, an unreachable origin), the exposition parses with a strict
// Prometheus text parser, per-host labels stay bounded, and the token guards both routes.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import type { ProxyConfig } from '../../src/index.js';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { parsePrometheusText, sampleValue, type Family } from '../helpers/prometheus.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { closedPort } from '../helpers/respond.js';

const BODY = 'metrics body, twenty-nine b\n';
const running: Array<{ stop(): Promise<void> }> = [];
let origin: Origin;
const state = { version: 1, failWith: 0 };

async function start(overrides: Partial<ProxyConfig> = {}, options: { token?: string; now?: () => number } = {}) {
  const proxy: TestProxy = await startProxy(overrides, options.now ? { now: options.now } : {});
  const admin: AdminServer = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', ...(options.token && { token: options.token }) }, silentLogger);
  running.push({ stop: () => admin.close() }, proxy);
  return { proxy, admin };
}

async function scrape(admin: AdminServer, token?: string): Promise<{ contentType: string; families: Map<string, Family> }> {
  const res = await fetch(`${admin.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type') ?? '', families: parsePrometheusText(await res.text()) };
}

async function stats(admin: AdminServer): Promise<Record<string, unknown>> {
  const res = await fetch(`${admin.url}/stats`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  origin = await startOrigin({
    '/doc': (req, res) => {
      if (req.method === 'POST') return void res.writeHead(200, { 'content-length': '3' }).end('ok\n');
      if (state.failWith) return void res.writeHead(state.failWith, { 'content-type': 'text/plain' }).end('down');
      const etag = `"v${state.version}"`;
      const headers = { etag, 'cache-control': 'max-age=10, stale-if-error=600' };
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
      res.writeHead(200, { ...headers, 'content-type': 'text/plain', 'content-length': String(BODY.length) }).end(BODY);
    },
    '/other': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '2' }).end('o\n'),
  });
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
  Object.assign(state, { version: 1, failWith: 0 });
});
afterAll(async () => {
  await origin.close();
});

describe('GET /metrics (Prometheus text exposition 0.0.4)', () => {
  it('counts a scripted sequence by outcome, policy, dropped validator, upstream status, bytes saved and origin requests avoided', async () => {
    const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
    const { admin, proxy } = await start({ validators: 'strip' }, { now: clock.now });
    const url = `${origin.url}/doc`;
    const get = (headers: Record<string, string> = {}) => viaProxy(proxy.url, url, { headers });

    expect((await get()).headers['cache-status']).toContain('fwd=uri-miss'); // miss
    expect((await get()).headers['cache-status']).toContain('hit'); // hit
    const stripped = await get({ 'if-none-match': '"v1"' }); // hit, If-None-Match dropped by strip
    expect(stripped.status).toBe(200);
    expect(stripped.headers['cache-status']).toContain('detail=dropped-if-none-match');
    clock.advance(20);
    expect((await get()).headers['cache-status']).toContain('fwd-status=304'); // revalidated-304
    clock.advance(20);
    state.failWith = 503;
    const stale = await get(); // stale-if-error
    expect(stale.status).toBe(200);
    expect(stale.headers['cache-status']).toContain('detail=stale-if-error');
    state.failWith = 0;
    expect((await viaProxy(proxy.url, url, { method: 'POST', body: 'x' })).status).toBe(200); // bypass
    expect((await viaProxy(proxy.url, `http://127.0.0.1:${await closedPort()}/gone`)).status).toBe(502); // error
    expect(origin.requestsTo('/doc')).toHaveLength(4); // miss, revalidation, failed revalidation, POST

    const { contentType, families } = await scrape(admin);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const requests = (outcome: string) => sampleValue(families, 'etag_proxy_requests_total', { outcome });
    expect(families.get('etag_proxy_requests_total')?.type).toBe('counter');
    expect({
      hit: requests('hit'),
      miss: requests('miss'),
      'revalidated-304': requests('revalidated-304'),
      'revalidated-200': requests('revalidated-200'),
      stale: requests('stale'),
      collapsed: requests('collapsed'),
      bypass: requests('bypass'),
      error: requests('error'),
    }).toEqual({ hit: 2, miss: 1, 'revalidated-304': 1, 'revalidated-200': 0, stale: 1, collapsed: 0, bypass: 1, error: 1 });
    expect(sampleValue(families, 'etag_proxy_policy_requests_total', { policy: 'strip' })).toBe(7);
    expect(sampleValue(families, 'etag_proxy_policy_requests_total', { policy: 'pass' })).toBe(0);
    expect(sampleValue(families, 'etag_proxy_client_validators_dropped_total', { field: 'if-none-match' })).toBe(1);
    expect(sampleValue(families, 'etag_proxy_client_validators_dropped_total', { field: 'if-modified-since' })).toBe(0);
    expect(sampleValue(families, 'etag_proxy_origin_requests_avoided_total')).toBe(2);
    // Two hits, the body kept after the 304 and the stale answer: four whole bodies from the cache.
    expect(sampleValue(families, 'etag_proxy_cache_served_bytes_total')).toBe(4 * BODY.length);
    expect(sampleValue(families, 'etag_proxy_upstream_requests_total', { status: '2xx' })).toBe(2);
    expect(sampleValue(families, 'etag_proxy_upstream_requests_total', { status: '3xx' })).toBe(1);
    expect(sampleValue(families, 'etag_proxy_upstream_requests_total', { status: '5xx' })).toBe(1);
    expect(sampleValue(families, 'etag_proxy_upstream_requests_total', { status: 'error' })).toBe(1);
    expect(sampleValue(families, 'etag_proxy_upstream_response_seconds_count')).toBe(4);
    expect(sampleValue(families, 'etag_proxy_upstream_response_seconds_bucket', { le: '+Inf' })).toBe(4);
    // At least the bodies and heads the origin sent for the miss and the POST.
    expect(sampleValue(families, 'etag_proxy_upstream_received_bytes_total')).toBeGreaterThan(BODY.length + 3);
    expect(families.get('etag_proxy_cache_entries')?.type).toBe('gauge');
    expect(sampleValue(families, 'etag_proxy_store_breaker_open')).toBe(0);
    expect(families.get('etag_proxy_host_requests_total')?.samples ?? []).toEqual([]); // off by default

    const json = await stats(admin);
    expect(json).toMatchObject({
      requests: 7,
      byOutcome: { hit: 2, miss: 1, 'revalidated-304': 1, stale: 1, bypass: 1, error: 1 },
      hitRatio: 0.8, // hit ×2, revalidated-304, stale out of the five looked up
      bandwidthSavedBytes: 4 * BODY.length,
      originRequestsAvoided: 2,
      validatorsDropped: { 'if-none-match': 1 },
      upstream: { requests: 5, byStatus: { '2xx': 2, '3xx': 1, '5xx': 1, error: 1 } },
      store: { errors: 0, breakerOpen: false },
      processes: 1,
    });
  });

  it('counts the help page (GET / on the proxy port) as a bypass, not an error; an unknown page of the proxy stays an error', async () => {
    const { admin, proxy } = await start();
    const help = await fetch(`${proxy.url}/`);
    expect(help.status).toBe(200);
    await help.arrayBuffer();
    const { families } = await scrape(admin);
    expect(sampleValue(families, 'etag_proxy_requests_total', { outcome: 'error' })).toBe(0);
    expect(sampleValue(families, 'etag_proxy_requests_total', { outcome: 'bypass' })).toBe(1);
    const missing = await fetch(`${proxy.url}/nothing-here`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    expect(sampleValue((await scrape(admin)).families, 'etag_proxy_requests_total', { outcome: 'error' })).toBe(1);
  });

  it('counts the memory store entries and bytes it holds', async () => {
    const { admin, proxy } = await start();
    await viaProxy(proxy.url, `${origin.url}/other`);
    const { families } = await scrape(admin);
    expect(sampleValue(families, 'etag_proxy_cache_entries', { store: 'memory' })).toBe(1);
    expect(sampleValue(families, 'etag_proxy_cache_bytes', { store: 'memory' })).toBeGreaterThan(2);
  });

  it('labels at most --metrics-top-hosts hosts; the others count as host="other"', async () => {
    const second = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '1' }).end('2') });
    running.push({ stop: () => second.close() });
    const { admin, proxy } = await start({ metricsTopHosts: 1 });
    await viaProxy(proxy.url, `${origin.url}/other`);
    await viaProxy(proxy.url, `${origin.url}/other`);
    await viaProxy(proxy.url, `${second.url}/a`);
    await viaProxy(proxy.url, `${second.url}/b`);
    const { families } = await scrape(admin);
    const samples = families.get('etag_proxy_host_requests_total')!.samples;
    expect(samples.map((s) => [s.labels['host'], s.labels['outcome'], s.value]).sort()).toEqual([
      [origin.host, 'hit', 1],
      [origin.host, 'miss', 1],
      ['other', 'miss', 2],
    ].sort());
    expect((await stats(admin))['hosts']).toEqual({ [origin.host]: { miss: 1, hit: 1 }, other: { miss: 2 } });
  });

  it('refuses /metrics and /stats without the admin token when one is set (RFC 6750 §3)', async () => {
    const { admin } = await start({}, { token: 'metrics-secret' });
    for (const path of ['/metrics', '/stats']) {
      const bare = await fetch(`${admin.url}${path}`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toContain('Bearer');
      expect(await bare.text()).not.toContain('etag_proxy_');
      const wrong = await fetch(`${admin.url}${path}`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
    }
    const { families } = await scrape(admin, 'metrics-secret');
    expect(families.has('etag_proxy_requests_total')).toBe(true);
    // A rebinding page's Host is refused before the token is even looked at.
    const misdirected = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(admin.url);
      http.get({ host: '127.0.0.1', port, path: '/metrics', headers: { host: 'evil.example', authorization: 'Bearer metrics-secret' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(misdirected).toBe(421);
  });

  it('times every Redis call by operation and counts the near cache in front of Redis', async () => {
    const redis = await redisForTests();
    const namespace = testNamespace('observe-metrics');
    const backend = await createRedisBackend<StoredPolicies>({ url: redis.url, namespace, storeTimeoutMs: 500, logger: silentLogger });
    const proxy = await startProxy({ store: redis.url, namespace }, { backend });
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    try {
      await viaProxy(proxy.url, `${origin.url}/other`);
      await viaProxy(proxy.url, `${origin.url}/other`);
      const { families } = await scrape(admin);
      expect(sampleValue(families, 'etag_proxy_store_operation_seconds_count', { op: 'lookup' })).toBeGreaterThanOrEqual(2);
      expect(sampleValue(families, 'etag_proxy_store_operation_seconds_count', { op: 'put' })).toBe(1);
      expect(sampleValue(families, 'etag_proxy_store_errors_total')).toBe(0);
      expect(sampleValue(families, 'etag_proxy_cache_entries', { store: 'near-cache' })).toBe(1);
      expect(sampleValue(families, 'etag_proxy_store_breaker_open')).toBe(0);
    } finally {
      await admin.close();
      await proxy.stop();
      await cleanNamespace(redis.url, namespace);
      await backend.close();
      await redis.stop();
    }
  });

  it('counts store errors and the open breaker when the store is down', async () => {
    const namespace = testNamespace('observe-down');
    const backend = await createRedisBackend<StoredPolicies>({ url: `redis://127.0.0.1:${await closedPort()}`, namespace, storeTimeoutMs: 200, logger: silentLogger });
    const proxy = await startProxy({ namespace }, { backend });
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    try {
      const res = await viaProxy(proxy.url, `${origin.url}/other`);
      expect(res.status).toBe(200);
      expect(res.headers['cache-status']).toContain('store-unavailable');
      const { families } = await scrape(admin);
      expect(sampleValue(families, 'etag_proxy_store_errors_total')).toBeGreaterThanOrEqual(1);
      expect(sampleValue(families, 'etag_proxy_store_breaker_open')).toBe(1);
      expect((await stats(admin))['store']).toMatchObject({ breakerOpen: true });
    } finally {
      await admin.close();
      await proxy.stop();
      await backend.close().catch(() => {});
    }
  });
});

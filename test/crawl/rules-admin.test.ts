// Where URL rules come from, through the admin API: GET / PUT / DELETE /rules and /rules/<n>
// (the shape of /policies), 400 naming the key, GET /rules/resolve; and across a fleet on one
// Redis: a change through one proxy is applied by another within 1 s, a restart keeps it, a
// policy change leaves the URL rules alone.
import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import type { ProxyConfig } from '../../src/index.js';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { silentLogger } from '../../src/observe/log.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

let redis: { url: string; stop(): Promise<void> };
let origin: Origin;
const namespaces: string[] = [];
const running: Array<{ stop(): Promise<void> }> = [];
let count = 0;

/** A no-cache page: stored and reused only under a rule with override: [no-cache]. */
function noCachePage(): string {
  const path = `/r-${++count}`;
  origin.route(path, (_req: http.IncomingMessage, res: http.ServerResponse) => void res.writeHead(200, { 'cache-control': 'no-cache', 'content-length': 2 }).end('nc'));
  return path;
}

async function proxyWith(overrides: Partial<ProxyConfig> = {}): Promise<{ proxy: TestProxy; admin: AdminServer }> {
  const proxy = await startProxy({ storeTimeoutMs: 2000, ...overrides });
  running.push(proxy);
  const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
  running.push({ stop: () => admin.close() });
  return { proxy, admin };
}

async function call(admin: AdminServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${admin.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const OVERRIDE = { match: { host: '127.0.0.1' }, override: ['no-cache'], defaultTtl: '10m' };

/** Two requests for a fresh no-cache page: how many reached the origin (1 = the rule applies). */
async function originRequestsFor(proxy: TestProxy): Promise<number> {
  const path = noCachePage();
  await viaProxy(proxy.url, `${origin.url}${path}`);
  await viaProxy(proxy.url, `${origin.url}${path}`);
  return origin.requestsTo(path).length;
}

beforeAll(async () => {
  redis = await redisForTests();
  origin = await startOrigin();
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});
afterAll(async () => {
  await origin?.close();
  if (!redis) return;
  for (const namespace of namespaces) await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

describe('an entry stored under a rule that is gone, revalidated (304)', () => {
  it('takes the origin\'s no-cache again: the rule\'s lifetime is not renewed by the refresh (RFC 9111 §5.2.2.4)', async () => {
    const path = `/r-${++count}`;
    origin.route(path, (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' }).end();
      res.writeHead(200, { 'cache-control': 'no-cache', etag: '"v1"', 'content-length': 2 }).end('nc');
    });
    const clock = fakeClock();
    const proxy = await startProxy({ storeTimeoutMs: 2000, rules: parseCrawlRules('rules', [OVERRIDE]) }, { now: clock.now });
    running.push(proxy);
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    running.push({ stop: () => admin.close() });
    const get = () => viaProxy(proxy.url, `${origin.url}${path}`);

    await get();
    expect((await get()).headers['cache-status']).toMatch(/hit; .*detail=rule-override/);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect((await call(admin, 'DELETE', '/rules/0')).status).toBe(200);
    clock.advance(601);
    const revalidated = await get();
    expect(revalidated.text).toBe('nc');
    expect(revalidated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(origin.requestsTo(path)).toHaveLength(2);
    // No rule any more: every reuse goes to the origin first.
    expect((await get()).headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(origin.requestsTo(path)).toHaveLength(3);
  });
});

describe('admin API /rules (memory store)', () => {
  it('GET / PUT / DELETE /rules and /rules/<n> change what the proxy does', async () => {
    const { proxy, admin } = await proxyWith({ rules: parseCrawlRules('rules', [{ match: { host: '*' }, sortQuery: true }]) });
    expect(await call(admin, 'GET', '/rules')).toEqual({ status: 200, json: { rules: [{ match: { host: '*' }, sortQuery: true }] } });
    expect(await originRequestsFor(proxy)).toBe(2);

    const put = await call(admin, 'PUT', '/rules/0', OVERRIDE);
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ match: { host: '127.0.0.1' }, override: ['no-cache'], defaultTtl: 600_000 });
    expect(await originRequestsFor(proxy)).toBe(1);

    expect((await call(admin, 'PUT', '/rules/1', { match: { host: '*' }, sortQuery: true })).status).toBe(201);
    expect((await call(admin, 'GET', '/rules/1')).json).toEqual({ match: { host: '*' }, sortQuery: true });
    expect((await call(admin, 'PUT', '/rules/5', { match: { host: '*' } })).status).toBe(404);

    expect((await call(admin, 'DELETE', '/rules/0')).json).toEqual({ deleted: { match: { host: '127.0.0.1' }, override: ['no-cache'], defaultTtl: 600_000 } });
    expect(await originRequestsFor(proxy)).toBe(2);
    expect((await call(admin, 'GET', '/rules')).json).toEqual({ rules: [{ match: { host: '*' }, sortQuery: true }] });

    expect((await call(admin, 'PUT', '/rules', [OVERRIDE])).json).toEqual({ rules: [{ match: { host: '127.0.0.1' }, override: ['no-cache'], defaultTtl: 600_000 }] });
    expect(await originRequestsFor(proxy)).toBe(1);
    expect((await call(admin, 'DELETE', '/rules')).status).toBe(200);
    expect((await call(admin, 'GET', '/rules')).json).toEqual({ rules: [] });
  });

  it('a bad rule is a 400 naming the key, and nothing changes', async () => {
    const { admin } = await proxyWith();
    expect(await call(admin, 'PUT', '/rules/0', { match: { host: '*' }, override: ['nostore'] })).toEqual({
      status: 400,
      json: { error: 'body.override[0]: expected no-store | no-cache | private | must-revalidate | expires, got "nostore"' },
    });
    expect((await call(admin, 'PUT', '/rules', [{ match: {} }])).json).toEqual({ error: 'body[0].match: expected { host, path? } or { url }, got {}' });
    expect((await call(admin, 'GET', '/rules')).json).toEqual({ rules: [] });
  });

  it('GET /rules/resolve says which rules apply to a URL and what they change', async () => {
    const { admin } = await proxyWith({
      policies: { default: {}, clients: [{ match: 'replayer', offline: true, validators: 'strip' }], hosts: [] },
      rules: parseCrawlRules('rules', [
        { match: { host: 'news.example', path: '/articles/*' }, override: ['no-cache', 'no-store'], defaultTtl: '10m', maxTtl: '1h' },
        { match: { host: '*' }, ignoreQuery: ['utm_*', 'fbclid'], sortQuery: true },
      ]),
    });
    const url = 'http://news.example/articles/1?utm_source=x&b=2&a=1';
    const res = await call(admin, 'GET', `/rules/resolve?url=${encodeURIComponent(url)}&client=replayer`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      url,
      client: 'replayer',
      matched: ['rules[0]: host news.example path /articles/*', 'rules[1]: host *'],
      settings: { override: ['no-cache', 'no-store'], defaultTtl: 600_000, maxTtl: 3_600_000, ignoreQuery: ['utm_*', 'fbclid'], sortQuery: true },
      from: { override: 'rules[0]', defaultTtl: 'rules[0]', maxTtl: 'rules[0]', ignoreQuery: 'rules[1]', sortQuery: 'rules[1]' },
      offline: true,
      offlineFrom: 'policies (client:replayer)',
      record: false,
      store: true,
      keyQuery: '?a=1&b=2',
      policy: { validators: 'strip', requestCacheControl: 'honor', rule: 'client:replayer', offline: true },
    });
    expect((await call(admin, 'GET', '/rules/resolve?url=http://other.example/')).json).toMatchObject({ matched: ['rules[1]: host *'], offline: false, offlineFrom: 'default' });
    expect((await call(admin, 'GET', '/rules/resolve?url=nope')).status).toBe(400);
  });
});

describe('URL rules across a fleet on one Redis', () => {
  const fleet = (namespace: string, overrides: Partial<ProxyConfig> = {}) => proxyWith({ store: redis.url, namespace, ...overrides });
  const newNamespace = () => {
    const namespace = testNamespace('crawl-rules');
    namespaces.push(namespace);
    return namespace;
  };

  it("a rule set through one proxy's admin API is applied by a second proxy within 1 s", async () => {
    const namespace = newNamespace();
    const first = await fleet(namespace);
    const second = await fleet(namespace);
    expect((await call(first.admin, 'PUT', '/rules/0', OVERRIDE)).status).toBe(201);
    const changedAt = Date.now();
    let rules = (await call(second.admin, 'GET', '/rules')).json['rules'] as unknown[];
    while (rules.length === 0 && Date.now() - changedAt < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      rules = (await call(second.admin, 'GET', '/rules')).json['rules'] as unknown[];
    }
    expect(Date.now() - changedAt).toBeLessThan(1000);
    expect(rules).toHaveLength(1);
    expect(await originRequestsFor(second.proxy)).toBe(1);
  });

  it('a restarted proxy (same config file) starts with the stored URL rules; a policy change keeps them', async () => {
    const namespace = newNamespace();
    const fileRules = parseCrawlRules('rules', [{ match: { host: 'file.example' }, sortQuery: true }]);
    const first = await fleet(namespace, { rules: fileRules });
    expect((await call(first.admin, 'PUT', '/rules/1', OVERRIDE)).status).toBe(201);
    expect((await call(first.admin, 'PUT', '/policies/clients/x', { validators: 'strip' })).status).toBe(201);
    const restarted = await fleet(namespace, { rules: fileRules });
    expect(((await call(restarted.admin, 'GET', '/rules')).json['rules'] as unknown[]).length).toBe(2);
    expect(await originRequestsFor(restarted.proxy)).toBe(1);
    expect(((await call(restarted.admin, 'GET', '/policies')).json['policies'] as { clients: unknown[] }).clients).toHaveLength(1);

    // A changed config file keeps the fleet's rules, as with policies; --replace-fleet-rules replaces them.
    const newRules = parseCrawlRules('rules', [{ match: { host: 'new.example' }, sortQuery: true }]);
    const kept = await fleet(namespace, { rules: newRules });
    expect(((await call(kept.admin, 'GET', '/rules')).json['rules'] as unknown[]).length).toBe(2);
    const deployed = await fleet(namespace, { rules: newRules, replaceFleetRules: true });
    expect((await call(deployed.admin, 'GET', '/rules')).json).toEqual({ rules: [{ match: { host: 'new.example' }, sortQuery: true }] });
    expect(await originRequestsFor(deployed.proxy)).toBe(2);
  });
});

describe('offline in the policies', () => {
  it('PUT /policies/default { offline: true } makes every client offline; DELETE removes it', async () => {
    const { proxy, admin } = await proxyWith();
    expect((await call(admin, 'PUT', '/policies/default', { offline: true })).status).toBe(200);
    const path = noCachePage();
    expect((await viaProxy(proxy.url, `${origin.url}${path}`)).status).toBe(504);
    expect((await call(admin, 'DELETE', '/policies/default')).json).toEqual({ deleted: { offline: true } });
    expect((await viaProxy(proxy.url, `${origin.url}${path}`)).status).toBe(200);
    expect(origin.requestsTo(path)).toHaveLength(1);
  });
});

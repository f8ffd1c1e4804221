// GET /cache (inspect every variant), DELETE /cache by url, prefix and host, the PURGE method on
// the proxy port, and `etag-proxy purge`, on the wire: what the origin sees afterwards proves
// what was removed. On Redis, a purge by prefix leaves another namespace's keys untouched.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@redis/client';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import type { ProxyConfig } from '../../src/index.js';
import { silentLogger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend } from '../../src/store/types.js';
import { runCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

let origin: Origin;
let other: Origin;
const running: Array<{ stop(): Promise<void> }> = [];

const cacheable = (tag: string): Parameters<Origin['route']>[1] => (req, res) => {
  const vary = req.url?.startsWith('/vary') ? { vary: 'accept' } : {};
  const body = `${tag} ${req.url} ${req.headers['accept'] ?? ''}`;
  res.writeHead(200, { etag: `"${tag}"`, 'cache-control': 'max-age=600', 'content-length': String(Buffer.byteLength(body)), ...vary }).end(body);
};

async function start(overrides: Partial<ProxyConfig> = {}, options: { token?: string; backend?: Backend<StoredPolicies> } = {}) {
  const proxy: TestProxy = await startProxy(overrides, options.backend ? { backend: options.backend } : {});
  const admin: AdminServer = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', ...(options.token && { token: options.token }) }, silentLogger);
  running.push({ stop: () => admin.close() }, proxy);
  return { proxy, admin };
}

async function call(admin: AdminServer, method: string, path: string, token?: string) {
  const res = await fetch(`${admin.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Whether the proxy answers `url` from its cache (no new origin request). */
async function isCached(proxy: TestProxy, url: string, headers: Record<string, string> = {}): Promise<boolean> {
  const res = await viaProxy(proxy.url, url, { headers });
  return /^etag-proxy; hit/.test(String(res.headers['cache-status']));
}

beforeAll(async () => {
  origin = await startOrigin({ '*': cacheable('o') });
  other = await startOrigin({ '*': cacheable('x') });
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});
afterAll(async () => {
  await origin.close();
  await other.close();
});

describe('GET /cache?url=', () => {
  it('shows every stored variant: status, headers, validators, age, freshness left, size and when it was stored', async () => {
    const { proxy, admin } = await start();
    const url = `${origin.url}/vary/page`;
    await viaProxy(proxy.url, url, { headers: { accept: 'text/html' } });
    await viaProxy(proxy.url, url, { headers: { accept: 'application/json' } });
    const { status, json } = await call(admin, 'GET', `/cache?url=${encodeURIComponent(url)}`);
    expect(status).toBe(200);
    expect(json['url']).toBe(url);
    const variants = json['variants'] as Array<Record<string, unknown>>;
    expect(variants).toHaveLength(2);
    for (const variant of variants) {
      expect(variant).toMatchObject({ status: 200, vary: ['accept'], etag: '"o"', lastModified: null, ageSeconds: 0, freshnessLeftSeconds: 600 });
      expect((variant['headers'] as Record<string, string>)['cache-control']).toBe('max-age=600');
      expect(Date.parse(String(variant['storedAt']))).toBeGreaterThan(Date.now() - 60_000);
      expect(variant['bodyBytes']).toBeGreaterThan(10);
      expect(variant['storedBytes']).toBeGreaterThanOrEqual(variant['bodyBytes'] as number);
    }
    expect(new Set(variants.map((v) => v['variant'])).size).toBe(2);
  });

  it('404 for a URL with nothing stored; 400 for a URL that is not absolute', async () => {
    const { admin } = await start();
    expect((await call(admin, 'GET', `/cache?url=${encodeURIComponent(`${origin.url}/never`)}`)).status).toBe(404);
    const bad = await call(admin, 'GET', '/cache?url=%2Frelative');
    expect(bad.status).toBe(400);
    expect(bad.json['error']).toContain('url: expected an absolute http:// or https:// URL, got "/relative"');
  });
});

describe('DELETE /cache', () => {
  it('?url= removes every variant of that URL and nothing else', async () => {
    const { proxy, admin } = await start();
    const url = `${origin.url}/vary/gone`;
    const kept = `${origin.url}/kept`;
    for (const accept of ['a/1', 'a/2']) await viaProxy(proxy.url, url, { headers: { accept } });
    await viaProxy(proxy.url, kept);
    const { status, json } = await call(admin, 'DELETE', `/cache?url=${encodeURIComponent(url)}`);
    expect(status).toBe(200);
    expect(json).toEqual({ purged: 1, variants: 2 });
    expect(await isCached(proxy, url, { accept: 'a/1' })).toBe(false);
    expect(await isCached(proxy, url, { accept: 'a/2' })).toBe(false);
    expect(await isCached(proxy, kept)).toBe(true);
  });

  it('?prefix= and ?host= remove exactly the matching URLs', async () => {
    const { proxy, admin } = await start();
    const urls = [`${origin.url}/api/1`, `${origin.url}/api/2`, `${origin.url}/apix`, `${origin.url}/web`, `${other.url}/api/1`];
    for (const url of urls) await viaProxy(proxy.url, url);
    const byPrefix = await call(admin, 'DELETE', `/cache?prefix=${encodeURIComponent(`${origin.url.toUpperCase().replace('HTTP', 'http')}/api/`)}`);
    expect(byPrefix.status).toBe(200);
    expect(byPrefix.json).toMatchObject({ purged: 2, done: true });
    expect(await Promise.all(urls.map((url) => isCached(proxy, url)))).toEqual([false, false, true, true, true]);

    const byHost = await call(admin, 'DELETE', `/cache?host=${encodeURIComponent(other.host)}`);
    expect(byHost.json).toMatchObject({ purged: 1 });
    expect(await isCached(proxy, `${other.url}/api/1`)).toBe(false);
    expect(await isCached(proxy, `${origin.url}/web`)).toBe(true);
    // A host without a port matches every port of it.
    const everyPort = await call(admin, 'DELETE', '/cache?host=127.0.0.1');
    expect(everyPort.json['purged']).toBeGreaterThanOrEqual(3);
    expect(await isCached(proxy, `${origin.url}/web`)).toBe(false);
  });

  it('refuses a bad prefix, several targets, and requests without the token', async () => {
    const { admin } = await start({}, { token: 'purge-token' });
    expect((await call(admin, 'DELETE', `/cache?prefix=${encodeURIComponent('/api')}`, 'purge-token')).json['error']).toContain('prefix: expected an absolute');
    expect((await call(admin, 'DELETE', `/cache?prefix=http%3A%2F%2Fa%2F&host=a`, 'purge-token')).status).toBe(400);
    expect((await call(admin, 'DELETE', '/cache', 'purge-token')).status).toBe(400);
    expect((await call(admin, 'DELETE', `/cache?host=a`)).status).toBe(401);
    expect((await call(admin, 'GET', `/cache?url=${encodeURIComponent(`${origin.url}/x`)}`)).status).toBe(401);
  });
});

describe('PURGE on the proxy port (--purge)', () => {
  function purgeRequest(proxyUrl: string, target: string, localAddress?: string): Promise<{ status: number; text: string }> {
    const proxy = new URL(proxyUrl);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'PURGE', path: target, headers: { host: new URL(target).host }, ...(localAddress && { localAddress }) });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('removes every variant of the URL (200), then says nothing is stored (404)', async () => {
    const { proxy } = await start({ purge: true });
    const url = `${origin.url}/vary/purge-me`;
    for (const accept of ['b/1', 'b/2']) await viaProxy(proxy.url, url, { headers: { accept } });
    const before = origin.requests.length;
    const first = await purgeRequest(proxy.url, url);
    expect(first.status).toBe(200);
    expect(first.text).toContain('purged 2 stored variant(s)');
    expect(origin.requests.length).toBe(before); // never forwarded
    expect(await isCached(proxy, url, { accept: 'b/1' })).toBe(false);
    expect((await purgeRequest(proxy.url, `${origin.url}/never-stored`)).status).toBe(404);
  });

  it('with an --allow list, only from its addresses (a client outside it is refused before anything else)', async () => {
    const allowClients: ProxyConfig['allowClients'] = [{ address: '127.0.0.2', prefix: 32, family: 'ipv4' }];
    const { proxy } = await start({ purge: true, allowClients });
    const url = `${origin.url}/allowed`;
    await purgeRequest(proxy.url, url, '127.0.0.2'); // nothing stored yet: 404, but allowed
    const warm = await new Promise<number>((resolve, reject) => {
      const target = new URL(proxy.url);
      http.get({ host: target.hostname, port: target.port, path: url, localAddress: '127.0.0.2', headers: { host: new URL(url).host } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    expect(warm).toBe(200);
    const refused = await purgeRequest(proxy.url, url, '127.0.0.1');
    expect(refused.status).toBe(403);
    expect((await purgeRequest(proxy.url, url, '127.0.0.2')).status).toBe(200);
  });

  it('without --purge, PURGE is forwarded to the origin like any unknown method and the entry stays', async () => {
    const { proxy } = await start();
    const url = `${origin.url}/not-purged`;
    await viaProxy(proxy.url, url);
    const answer = await purgeRequest(proxy.url, url);
    expect(answer.status).toBe(200);
    expect(origin.requestsTo('/not-purged').map((r) => r.method)).toEqual(['GET', 'PURGE']);
  });
});

describe('on Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  const namespace = testNamespace('purge');
  const neighbour = testNamespace('purge-neighbour');
  beforeAll(async () => {
    redis = await redisForTests();
  });
  afterAll(async () => {
    await cleanNamespace(redis.url, namespace);
    await cleanNamespace(redis.url, neighbour);
    await redis.stop();
  });

  it('a purge by prefix removes exactly the matching keys and leaves another namespace untouched', async () => {
    const ours = await createRedisBackend<StoredPolicies>({ url: redis.url, namespace, storeTimeoutMs: 1000, logger: silentLogger });
    const theirs = await createRedisBackend<StoredPolicies>({ url: redis.url, namespace: neighbour, storeTimeoutMs: 1000, logger: silentLogger });
    running.push({ stop: () => ours.close() }, { stop: () => theirs.close() });
    const { proxy, admin } = await start({ store: redis.url, namespace }, { backend: ours });
    const neighbourProxy = await startProxy({ store: redis.url, namespace: neighbour }, { backend: theirs });
    running.push(neighbourProxy);
    // (Walking in several SCAN pages is the contract suite's test: test/contracts/entry-store.contract.ts.)
    const api = Array.from({ length: 30 }, (_, i) => `${origin.url}/api/${i}`);
    const rest = [`${origin.url}/web`, `${origin.url}/vary/v`];
    for (const url of [...api, ...rest]) {
      await viaProxy(proxy.url, url);
      await viaProxy(neighbourProxy.url, url);
    }
    const keys = async (ns: string) => {
      const client = createClient({ url: redis.url });
      await client.connect();
      try {
        return (await client.keys(`${ns}:e2:*`)).length; // test-side count only (the proxy never uses KEYS)
      } finally {
        await client.close();
      }
    };
    const neighbourBefore = await keys(neighbour);
    const oursBefore = await keys(namespace);

    const { json } = await call(admin, 'DELETE', `/cache?prefix=${encodeURIComponent(`${origin.url}/api/`)}`);
    expect(json).toMatchObject({ purged: 30, done: true });
    expect(await keys(namespace)).toBe(oursBefore - 30);
    expect(await keys(neighbour)).toBe(neighbourBefore);
    expect(await isCached(proxy, api[7]!)).toBe(false);
    expect(await isCached(proxy, rest[0]!)).toBe(true);
    expect(await isCached(neighbourProxy, api[7]!)).toBe(true);
  });
});

describe('etag-proxy purge', () => {
  it('purges a URL, a prefix and a host through the admin API, printing the final count', async () => {
    const { proxy, admin } = await start({}, { token: 'cli-purge' });
    const urls = [`${origin.url}/c/1`, `${origin.url}/c/2`, `${origin.url}/d`, `${other.url}/e`];
    for (const url of urls) await viaProxy(proxy.url, url);
    const cli = (...args: string[]) => runCli(['purge', ...args, '--admin-url', admin.url, '--admin-token', 'cli-purge']);

    const one = await cli(urls[3]!);
    expect(one).toMatchObject({ code: 0, stderr: '' });
    expect(one.stdout).toBe(`purged ${urls[3]} (1 variant)\n`);
    const prefix = await cli('--prefix', `${origin.url}/c/`);
    expect(prefix.code).toBe(0);
    expect(prefix.stdout).toMatch(/^purged 2 URLs \(\d+ stored URLs looked at\)\n$/);
    const host = await cli('--host', origin.host);
    expect(host.stdout).toMatch(/^purged 1 URL \(/);
    expect(await Promise.all(urls.map((url) => isCached(proxy, url)))).toEqual([false, false, false, false]);

    const none = await cli();
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('etag-proxy purge: give one of: a URL, --prefix <URL prefix>, --host <host>\n');
  });
});

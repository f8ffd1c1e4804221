// URL rules for crawls, freshness levers, on the wire: an origin that forbids or limits caching
// (no-cache, no-store, private, must-revalidate, Expires, no validators), a rule that overrides
// or clamps it, and the origin request count; `detail=rule-override` in Cache-Status and the log;
// per-client storage for private / cookie-setting responses; rule precedence (file order).
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../src/index.js';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';

let origin: Origin;
const proxies: TestProxy[] = [];
let count = 0;

/** A fresh path whose origin answers with `headers`; the body names the request number. */
function page(headers: Record<string, string> | ((req: http.IncomingMessage) => Record<string, string>), prefix = '/p'): string {
  const path = `${prefix}-${++count}`;
  let served = 0;
  origin.route(path, (req, res) => {
    // The identity header never reaches the origin; the test clients also send it as a cookie.
    const body = Buffer.from(`${path} #${++served} for ${String(req.headers['cookie'] ?? 'anyone')}\n`);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, ...(typeof headers === 'function' ? headers(req) : headers) }).end(body);
  });
  return path;
}

async function proxyWith(rules: unknown[], clock = fakeClock(), overrides: Partial<ProxyConfig> = {}) {
  const started = await startProxy({ rules: parseCrawlRules('rules', rules), ...overrides }, { now: clock.now });
  proxies.push(started);
  return { ...started, clock };
}

const host = () => '127.0.0.1';
const get = (p: TestProxy, path: string, headers: Record<string, string> = {}) => viaProxy(p.url, `${origin.url}${path}`, { headers });
// Per-client entries are keyed by a verified identity: proxy users whose passwords the proxy checks.
const USERS: Partial<ProxyConfig> = { identity: { header: 'x-proxy-client', users: { alice: 'alice-pw', bob: 'bob-pw' }, requireAuth: false } };
const basic = (user: string, password = `${user}-pw`) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const as = (client: string) => ({ 'proxy-authorization': basic(client), cookie: client });
/** Bob's connections come from another loopback address than alice's (127.0.0.1). */
const fromBob = new http.Agent({ keepAlive: true, localAddress: '127.0.0.2' });
const getFrom = (p: TestProxy, agent: http.Agent, path: string, headers: Record<string, string>) => viaProxy(p.url, `${origin.url}${path}`, { headers, agent });

function logged(logs: string[], path: string): Array<Record<string, unknown>> {
  return logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'request' && String(r['url']).endsWith(path));
}

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  fromBob.destroy();
  await origin.close();
});

describe('override: storing and reusing what the origin forbids, opted into per rule', () => {
  it('caches a no-cache page for the rule\'s defaultTtl (override: [no-cache]) and marks it detail=rule-override', async () => {
    const p = await proxyWith([{ match: { host: host(), path: '/news-*' }, override: ['no-cache', 'no-store'], defaultTtl: '10m' }]);
    const path = page({ 'cache-control': 'no-cache' }, '/news');
    const first = await get(p, path);
    const second = await get(p, path);
    expect(first.status).toBe(200);
    expect(second.text).toBe(first.text);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(second.headers['cache-status']).toMatch(/hit; ttl=\d+; detail=rule-override/);
    expect(first.headers['cache-status']).toMatch(/fwd=uri-miss.*detail=rule-override/);
    // The client still sees what the origin said.
    expect(second.headers['cache-control']).toBe('no-cache');
    expect(logged(p.logs, path).map((r) => r['override'])).toEqual(['no-cache', true]);
    p.clock.advance(601);
    await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('without the rule the same no-cache page goes to the origin every time (RFC 9111 §5.2.2.4)', async () => {
    const p = await proxyWith([{ match: { host: 'other.example' }, override: ['no-cache'], defaultTtl: '10m' }]);
    const path = page({ 'cache-control': 'no-cache' });
    await get(p, path);
    const second = await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(2);
    expect(second.headers['cache-status']).not.toMatch(/rule-override/);
  });

  it('stores a no-store response with override: [no-store]', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['no-store'], defaultTtl: '1m' }]);
    const path = page({ 'cache-control': 'no-store' });
    const first = await get(p, path);
    const second = await get(p, path);
    expect(second.body.equals(first.body)).toBe(true);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(second.headers['cache-status']).toMatch(/hit.*detail=rule-override/);
  });

  it('serves stale despite must-revalidate only with override: [must-revalidate]', async () => {
    const rules = [{ match: { host: host() }, override: ['must-revalidate'] }];
    const p = await proxyWith(rules, fakeClock(), { serveStaleIfDisconnectedMs: 3_600_000 });
    const path = page({ 'cache-control': 'max-age=10, must-revalidate, stale-while-revalidate=60' });
    await get(p, path);
    p.clock.advance(20);
    const stale = await get(p, path);
    expect(stale.headers['cache-status']).toMatch(/hit.*stale-while-revalidate/);
    expect(stale.headers['cache-status']).toMatch(/rule-override/);
  });

  it('replaces the origin\'s Expires / max-age with the rule\'s lifetime with override: [expires]', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['expires'], defaultTtl: '1h' }]);
    const path = page({ 'cache-control': 'max-age=5', expires: new Date(Date.now() + 5000).toUTCString() });
    await get(p, path);
    p.clock.advance(600);
    const later = await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(later.headers['cache-status']).toMatch(/hit; ttl=(29|30)\d\d; detail=rule-override/);
  });
});

describe('defaultTtl, heuristicPercent, minTtl, maxTtl', () => {
  it('defaultTtl applies to a response with no validators and no explicit freshness (a 200 with nothing)', async () => {
    const p = await proxyWith([{ match: { host: host() }, defaultTtl: '2m' }]);
    const path = page({});
    await get(p, path);
    p.clock.advance(100);
    const hit = await get(p, path);
    expect(hit.headers['cache-status']).toMatch(/hit; ttl=20/);
    expect(hit.headers['cache-status']).not.toMatch(/rule-override/);
    p.clock.advance(30);
    await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('defaultTtl does not replace an explicit max-age', async () => {
    const p = await proxyWith([{ match: { host: host() }, defaultTtl: '1h' }]);
    const path = page({ 'cache-control': 'max-age=30' });
    await get(p, path);
    p.clock.advance(40);
    await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('heuristicPercent replaces the 10 % of the Last-Modified age (RFC 9111 §4.2.2)', async () => {
    const clock = fakeClock();
    const p = await proxyWith([{ match: { host: host() }, heuristicPercent: 50 }], clock);
    const path = page(() => ({ date: new Date(clock.now()).toUTCString(), 'last-modified': new Date(clock.now() - 1000_000).toUTCString() }));
    const first = await get(p, path);
    expect(first.headers['cache-status']).toMatch(/ttl=500\b/);
    clock.advance(400);
    await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('maxTtl caps the origin\'s max-age and minTtl raises it', async () => {
    const p = await proxyWith([
      { match: { host: host(), path: '/cap-*' }, maxTtl: '1m' },
      { match: { host: host(), path: '/raise-*' }, minTtl: '1h' },
    ]);
    const capped = page({ 'cache-control': 'max-age=86400' }, '/cap');
    const raised = page({ 'cache-control': 'max-age=5' }, '/raise');
    expect((await get(p, capped)).headers['cache-status']).toMatch(/ttl=60\b/);
    expect((await get(p, raised)).headers['cache-status']).toMatch(/ttl=3600\b/);
    p.clock.advance(120);
    await get(p, capped);
    await get(p, raised);
    expect(origin.requestsTo(capped)).toHaveLength(2);
    expect(origin.requestsTo(raised)).toHaveLength(1);
  });

  it('minTtl does not make a no-cache response reusable without override', async () => {
    const p = await proxyWith([{ match: { host: host() }, minTtl: '1h' }]);
    const path = page({ 'cache-control': 'no-cache', etag: '"v1"' });
    await get(p, path);
    await get(p, path);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });
});

describe('precedence: per setting, the first matching rule in file order', () => {
  it('a specific rule above a catch-all wins for the settings it sets; the catch-all fills in the rest', async () => {
    const p = await proxyWith([
      { match: { host: host(), path: '/articles/*' }, maxTtl: '1m' },
      { match: { host: '*' }, defaultTtl: '1h', maxTtl: '1d' },
      { match: { url: '/articles/' }, defaultTtl: '5s' },
    ]);
    const article = page({}, '/articles/a');
    const other = page({});
    expect((await get(p, article)).headers['cache-status']).toMatch(/ttl=60\b/);
    expect((await get(p, other)).headers['cache-status']).toMatch(/ttl=3600\b/);
  });

  it('a url regex rule matches the whole URL, query included', async () => {
    const p = await proxyWith([{ match: { url: '\\?page=\\d+$' }, defaultTtl: '30s' }]);
    const path = page({});
    expect((await get(p, `${path}?page=2`)).headers['cache-status']).toMatch(/ttl=30\b/);
    expect((await get(p, path)).headers['cache-status']).toMatch(/ttl=0$/);
  });
});

describe('private and cookie-setting responses are stored per client, never shared (invariant 2)', () => {
  it('a private-override rule never serves one client\'s page to another', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['private'], defaultTtl: '10m' }], fakeClock(), USERS);
    const path = page({ 'cache-control': 'private' });
    const alice1 = await get(p, path, as('alice'));
    const bob1 = await get(p, path, as('bob'));
    const alice2 = await get(p, path, as('alice'));
    const bob2 = await get(p, path, as('bob'));
    const anon = await get(p, path);
    expect(alice1.text).toContain('#1');
    expect(bob1.text).toContain('#2');
    expect(bob1.headers['cache-status']).toMatch(/fwd=/);
    expect(alice2.text).toBe(alice1.text);
    expect(bob2.text).toBe(bob1.text);
    expect(alice2.headers['cache-status']).toMatch(/hit.*rule-override/);
    expect(anon.text).toContain('#3');
    expect(origin.requestsTo(path)).toHaveLength(3);
  });

  it('a cookie-setting response is stored for its client only, without its Set-Cookie', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['private'], defaultTtl: '10m' }], fakeClock(), USERS);
    const path = page((req) => ({ 'set-cookie': `session=${String(req.headers['cookie'])}` }));
    const alice1 = await get(p, path, as('alice'));
    const alice2 = await get(p, path, as('alice'));
    const bob = await get(p, path, as('bob'));
    expect(alice1.headers['set-cookie']).toEqual(['session=alice']);
    expect(alice2.text).toBe(alice1.text);
    expect(alice2.headers['set-cookie']).toBeUndefined();
    expect(bob.text).toContain('for bob');
    expect(bob.headers['set-cookie']).toEqual(['session=bob']);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('a claimed label never selects a private entry: bob sending X-Proxy-Client: alice gets his own page from the origin', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['private'], defaultTtl: '10m' }], fakeClock(), USERS);
    const path = page({ 'cache-control': 'private' });
    const alice = await get(p, path, as('alice'));
    // Same address as alice, her name in the identity header, no password: he is his address.
    const bob = await get(p, path, { 'x-proxy-client': 'alice', cookie: 'bob' });
    const bobAgain = await get(p, path, { 'x-proxy-client': 'alice', cookie: 'bob' });
    const aliceAgain = await get(p, path, as('alice'));
    expect(alice.text).toContain('#1 for alice');
    expect(bob.text).toContain('#2 for bob');
    expect(bob.headers['cache-status']).toMatch(/fwd=/);
    expect(bobAgain.text).toBe(bob.text); // his own entry (keyed by his address)
    expect(aliceAgain.text).toBe(alice.text);
    expect(aliceAgain.headers['cache-status']).toMatch(/hit/);
    expect(origin.requestsTo(path)).toHaveLength(2);
    expect(origin.requestsTo(path).map((r) => r.headers['cookie'])).toEqual(['alice', 'bob']);
  });

  it('with no users configured a Basic user name is a label too: per-client entries go by client address', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['private'], defaultTtl: '10m' }]);
    const path = page({ 'cache-control': 'private' });
    const alice = await get(p, path, { 'proxy-authorization': basic('alice', 'right'), cookie: 'alice' });
    const bobAsAlice = await getFrom(p, fromBob, path, { 'proxy-authorization': basic('alice', 'wrong'), cookie: 'bob' });
    const bobByHeader = await getFrom(p, fromBob, path, { 'x-proxy-client': 'alice', cookie: 'bob' });
    const aliceAgain = await get(p, path, { 'proxy-authorization': basic('alice', 'right'), cookie: 'alice' });
    expect(alice.text).toContain('#1 for alice');
    expect(bobAsAlice.text).toContain('#2 for bob');
    expect(bobAsAlice.headers['cache-status']).toMatch(/fwd=/);
    expect(bobByHeader.text).toBe(bobAsAlice.text); // his address's own entry, not alice's
    expect(aliceAgain.text).toBe(alice.text);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('without override: [private] a private page is not stored at all, whatever defaultTtl says', async () => {
    const p = await proxyWith([{ match: { host: host() }, override: ['no-cache'], defaultTtl: '10m' }]);
    const path = page({ 'cache-control': 'private' });
    await get(p, path, as('alice'));
    const bob = await get(p, path, as('bob'));
    expect(bob.text).toContain('for bob');
    expect(origin.requestsTo(path)).toHaveLength(2);
  });
});

// Cache-key levers on the wire: ignoreQuery globs, sortQuery, the origin's No-Vary-Search
// (draft-ietf-httpbis-no-vary-search basic forms) and varyIgnore. The origin always receives
// the URL exactly as the client sent it: only the key is normalised.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { parseNoVarySearch } from '../../src/cache/no-vary-search.js';
import { normalisedQuery } from '../../src/cache/keys.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

let origin: Origin;
const proxies: TestProxy[] = [];
let count = 0;

/** A path whose origin answers 200 max-age=600 (plus `headers`), body numbered per request. */
function page(headers: Record<string, string> = {}): string {
  const path = `/k-${++count}`;
  let served = 0;
  origin.route(path, (req, res) => {
    const body = Buffer.from(`${req.url} #${++served}\n`);
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': body.length, ...headers }).end(body);
  });
  return path;
}

async function proxyWith(rules: unknown[]) {
  const started = await startProxy({ rules: parseCrawlRules('rules', rules) });
  proxies.push(started);
  return started;
}

const get = (p: TestProxy, pathAndQuery: string, headers: Record<string, string> = {}) => viaProxy(p.url, `${origin.url}${pathAndQuery}`, { headers });
const seenByOrigin = (path: string) => origin.requests.filter((r) => r.url.split('?')[0] === path).map((r) => r.url);

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin.close();
});

describe('ignoreQuery and sortQuery', () => {
  it('utm_* variants of one page are one origin request; the origin saw the query as sent', async () => {
    const p = await proxyWith([{ match: { host: '*' }, ignoreQuery: ['utm_*', 'fbclid'], sortQuery: true }]);
    const path = page();
    const first = await get(p, `${path}?id=7&utm_source=news&utm_medium=mail`);
    const second = await get(p, `${path}?utm_campaign=x&id=7&fbclid=abc`);
    const third = await get(p, `${path}?id=7`);
    expect(second.text).toBe(first.text);
    expect(third.text).toBe(first.text);
    expect(second.headers['cache-status']).toMatch(/hit/);
    expect(seenByOrigin(path)).toEqual([`${path}?id=7&utm_source=news&utm_medium=mail`]);
    const other = await get(p, `${path}?id=8&utm_source=news`);
    expect(other.text).toContain('id=8');
    expect(seenByOrigin(path)).toHaveLength(2);
  });

  it('sortQuery: a=1&b=2 and b=2&a=1 are one entry; without it they are two', async () => {
    const sorted = await proxyWith([{ match: { host: '*' }, sortQuery: true }]);
    const path = page();
    await get(sorted, `${path}?a=1&b=2`);
    await get(sorted, `${path}?b=2&a=1`);
    expect(seenByOrigin(path)).toEqual([`${path}?a=1&b=2`]);
    const plain = await proxyWith([]);
    const path2 = page();
    await get(plain, `${path2}?a=1&b=2`);
    await get(plain, `${path2}?b=2&a=1`);
    expect(seenByOrigin(path2)).toEqual([`${path2}?a=1&b=2`, `${path2}?b=2&a=1`]);
  });

  it('the fragment and the host\'s case never matter to the key', async () => {
    const p = await proxyWith([]);
    const path = page();
    await viaProxy(p.url, `http://127.0.0.1:${origin.port}${path}?q=1`);
    const again = await viaProxy(p.url, `http://127.0.0.1:${origin.port}${path}?q=1#section`);
    expect(again.headers['cache-status']).toMatch(/hit/);
    expect(seenByOrigin(path)).toHaveLength(1);
  });
});

describe('No-Vary-Search (draft-ietf-httpbis-no-vary-search)', () => {
  it('params=("utm_source"): a second utm_source value is served from the entry; the origin saw the first URL as sent', async () => {
    const p = await proxyWith([]);
    const path = page({ 'no-vary-search': 'params=("utm_source")' });
    const first = await get(p, `${path}?id=1&utm_source=a`);
    const second = await get(p, `${path}?id=1&utm_source=b`);
    const third = await get(p, `${path}?id=1`);
    expect(second.text).toBe(first.text);
    expect(third.text).toBe(first.text);
    expect(seenByOrigin(path)).toEqual([`${path}?id=1&utm_source=a`]);
    await get(p, `${path}?id=2&utm_source=a`);
    expect(seenByOrigin(path)).toHaveLength(2);
  });

  it('params, except=("id") with key-order: only id matters', async () => {
    const p = await proxyWith([]);
    const path = page({ 'no-vary-search': 'params, except=("id"), key-order' });
    await get(p, `${path}?id=1&x=1`);
    const again = await get(p, `${path}?y=2&id=1`);
    expect(again.headers['cache-status']).toMatch(/hit/);
    expect(seenByOrigin(path)).toEqual([`${path}?id=1&x=1`]);
  });

  it('parses the basic forms, and ignores an invalid value', () => {
    expect(parseNoVarySearch('params')).toEqual({ noVary: { all: true, except: new Set() } });
    expect(parseNoVarySearch('params=("a" "b")')).toEqual({ noVary: { names: new Set(['a', 'b']) } });
    expect(parseNoVarySearch('key-order')).toEqual({ sort: true });
    expect(parseNoVarySearch('params=(a)')).toBeUndefined();
    expect(parseNoVarySearch('params=("a"')).toBeUndefined();
    expect(normalisedQuery('?b=2&utm_source=x&a=1&a=0', { sort: true, noVary: { names: new Set(['utm_source']) } })).toBe('?a=1&a=0&b=2');
    expect(normalisedQuery('?utm%5Fsource=x&k', { noVary: { names: new Set(['utm_source']) } })).toBe('?k');
  });
});

describe('varyIgnore', () => {
  it('Vary: User-Agent with varyIgnore: [user-agent] stores one copy for every User-Agent', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, varyIgnore: ['User-Agent'] }]);
    const path = page({ vary: 'User-Agent' });
    const a = await get(p, path, { 'user-agent': 'bot/1' });
    const b = await get(p, path, { 'user-agent': 'bot/2' });
    expect(b.text).toBe(a.text);
    expect(b.headers['vary']).toBe('User-Agent');
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(origin.requestsTo(path)[0]!.headers['user-agent']).toBe('bot/1');
  });

  it('without it, each User-Agent string is its own variant (RFC 9111 §4.1)', async () => {
    const p = await proxyWith([]);
    const path = page({ vary: 'User-Agent' });
    await get(p, path, { 'user-agent': 'bot/1' });
    await get(p, path, { 'user-agent': 'bot/2' });
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('other Vary names still select variants', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, varyIgnore: ['user-agent'] }]);
    const path = page({ vary: 'User-Agent, Accept-Language' });
    await get(p, path, { 'user-agent': 'a', 'accept-language': 'en' });
    await get(p, path, { 'user-agent': 'b', 'accept-language': 'en' });
    await get(p, path, { 'user-agent': 'a', 'accept-language': 'fr' });
    expect(origin.requestsTo(path)).toHaveLength(2);
  });
});

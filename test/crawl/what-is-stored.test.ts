// What a crawl rule lets the cache keep, on the wire: `statuses`, `negativeTtl` for 404 / 410,
// `maxObjectSize` per pattern, and `store: false`; each counted at the origin.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';

let origin: Origin;
const proxies: TestProxy[] = [];
let count = 0;

function page(status: number, headers: Record<string, string>, body = `status ${status}\n`): string {
  const path = `/s-${++count}`;
  origin.route(path, (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
  });
  return path;
}

async function proxyWith(rules: unknown[]) {
  const clock = fakeClock();
  const started = await startProxy({ rules: parseCrawlRules('rules', rules) }, { now: clock.now });
  proxies.push(started);
  return { ...started, clock };
}

const get = (p: TestProxy, path: string) => viaProxy(p.url, `${origin.url}${path}`);

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin.close();
});

describe('statuses', () => {
  it('stores only the listed statuses: a cacheable 404 outside the list is relayed with detail=rule-status', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, statuses: [200, 301] }]);
    const missing = page(404, { 'cache-control': 'max-age=600' });
    const moved = page(301, { 'cache-control': 'max-age=600', location: '/elsewhere' });
    const first = await get(p, missing);
    await get(p, missing);
    await get(p, moved);
    const movedAgain = await get(p, moved);
    expect(first.status).toBe(404);
    expect(first.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=404; detail=rule-status$/);
    expect(origin.requestsTo(missing)).toHaveLength(2);
    expect(movedAgain.status).toBe(301);
    expect(movedAgain.headers['cache-status']).toMatch(/hit/);
    expect(origin.requestsTo(moved)).toHaveLength(1);
  });

  it('a 200 outside a list of [404] is not stored either', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, statuses: [404] }]);
    const ok = page(200, { 'cache-control': 'max-age=600' });
    await get(p, ok);
    await get(p, ok);
    expect(origin.requestsTo(ok)).toHaveLength(2);
  });
});

describe('negativeTtl', () => {
  it('keeps a bare 404 and a bare 410 for negativeTtl, then asks again', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, statuses: [200, 404, 410], negativeTtl: '5m' }]);
    const gone = page(410, {});
    const notFound = `/never-routed-${++count}`; // the origin's own 404 "no route"
    const first = await get(p, notFound);
    expect(first.status).toBe(404);
    expect(first.headers['cache-status']).toMatch(/fwd-status=404; ttl=300$/);
    const again = await get(p, notFound);
    expect(again.status).toBe(404);
    expect(again.body.equals(first.body)).toBe(true);
    await get(p, gone);
    expect((await get(p, gone)).headers['cache-status']).toMatch(/hit; ttl=300\b/);
    expect(origin.requestsTo(notFound)).toHaveLength(1);
    expect(origin.requestsTo(gone)).toHaveLength(1);
    p.clock.advance(301);
    await get(p, notFound);
    expect(origin.requestsTo(notFound)).toHaveLength(2);
  });

  it('does not replace a 404\'s explicit max-age, nor apply to a 200', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1' }, negativeTtl: '5m' }]);
    const short404 = page(404, { 'cache-control': 'max-age=10' });
    const bare200 = page(200, {});
    expect((await get(p, short404)).headers['cache-status']).toMatch(/ttl=10\b/);
    expect((await get(p, bare200)).headers['cache-status']).toMatch(/ttl=0\b/);
  });
});

describe('maxObjectSize and store: false', () => {
  it('maxObjectSize on a rule replaces --max-object-size for its URLs only', async () => {
    const p = await proxyWith([{ match: { host: '127.0.0.1', path: '/s-*' }, maxObjectSize: 10 }]);
    const big = page(200, { 'cache-control': 'max-age=600' }, 'x'.repeat(11));
    const first = await get(p, big);
    expect(first.text).toBe('x'.repeat(11));
    expect(first.headers['cache-status']).toMatch(/detail=too-large/);
    await get(p, big);
    expect(origin.requestsTo(big)).toHaveLength(2);
    const other = `/t-${++count}`;
    origin.route(other, (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': 11 }).end('y'.repeat(11)));
    await get(p, other);
    await get(p, other);
    expect(origin.requestsTo(other)).toHaveLength(1);
  });

  it('store: false never looks up or stores a pattern, even a cacheable one; the request goes as sent', async () => {
    const p = await proxyWith([
      { match: { host: '127.0.0.1', path: '/s-*' }, store: false },
      { match: { host: '*' }, defaultTtl: '1h' },
    ]);
    const path = page(200, { 'cache-control': 'max-age=600', etag: '"a"' });
    const first = await viaProxy(p.url, `${origin.url}${path}`, { headers: { 'if-none-match': '"zzz"' } });
    const second = await get(p, path);
    expect(first.headers['cache-status']).toMatch(/fwd=bypass.*detail=rule-no-store/);
    expect(second.headers['cache-status']).toMatch(/fwd=bypass/);
    expect(origin.requestsTo(path)).toHaveLength(2);
    expect(origin.requestsTo(path)[0]!.headers['if-none-match']).toBe('"zzz"');
  });
});

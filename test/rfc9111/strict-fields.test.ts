// RFC 9111 corrections over http-cache-semantics, on the wire: strict HTTP-dates (RFC 9110
// §5.6.7, RFC 9111 §5.3), Age (§5.1), case-insensitive directives (§5.2), every final status
// with explicit freshness (§3), must-understand (§5.2.2.3), Authorization (§3.5), If-Modified-Since
// against Date (RFC 9110 §13.1.3), Vary normalisation (§4.1) and targeted fields (RFC 9213).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

const clock = fakeClock(Date.UTC(2026, 11, 1, 12, 0, 0));
const httpDate = (offsetSeconds: number) => new Date(clock.now() + offsetSeconds * 1000).toUTCString();

describe('RFC 9111 field parsing and storability, corrected', () => {
  let origin: Origin;
  let proxy: TestProxy;
  let targeted: TestProxy;
  let route = 0;

  /** Serve `headers` and `status` at a fresh path; fetch it twice through `via`; return both answers and the origin count. */
  async function twice(status: number, headers: Record<string, string | string[]>, reqHeaders: Array<Record<string, string>> = [{}, {}], via = proxy) {
    const path = `/r${++route}`;
    origin.route(path, respond(status, { date: httpDate(0), ...headers }, `body of ${path}`));
    const first = await viaProxy(via.url, `${origin.url}${path}`, { headers: reqHeaders[0] });
    const second = await viaProxy(via.url, `${origin.url}${path}`, { headers: reqHeaders[1] });
    return { first, second, originRequests: origin.requestsTo(path).length, path };
  }

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({}, { now: clock.now });
    targeted = await startProxy({ targetedCacheControl: 'cdn-cache-control' }, { now: clock.now });
  });

  afterAll(async () => {
    await proxy?.stop();
    await targeted?.stop();
    await origin?.close();
  });

  describe('Expires and Date are HTTP-dates or invalid (RFC 9110 §5.6.7, RFC 9111 §5.3)', () => {
    it.each([
      ['IMF-fixdate', () => httpDate(60)],
      ['RFC 850 (obsolete, two-digit year)', () => 'Thursday, 18-Aug-50 02:01:18 GMT'],
      ['asctime (obsolete)', () => new Date(clock.now() + 60_000).toUTCString().replace(/^(\w+), (\d\d) (\w+) (\d{4}) (\S+) GMT$/, (_, d, day, m, y, t) => `${d} ${m} ${String(Number(day)).padStart(2, ' ')} ${t} ${y}`)],
    ])('treats a valid %s Expires in the future as fresh', async (_form, expires) => {
      const { second, originRequests } = await twice(200, { expires: expires() });
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(originRequests).toBe(1);
    });

    it('reads an RFC 850 two-digit year as the latest year not more than 50 years ahead: 18-Aug-50 is 2050, fresh for decades', async () => {
      const { second } = await twice(200, { expires: 'Thursday, 18-Aug-50 02:01:18 GMT' });
      const ttl = Number(/ttl=(-?\d+)/.exec(String(second.headers['cache-status']))![1]);
      expect(ttl).toBeGreaterThan(20 * 365 * 86400);
    });

    it.each([
      ['a UTC zone', 'Thu, 18 Aug 2050 02:01:18 UTC'],
      ['a missing comma', 'Thu 18 Aug 2050 02:01:18 GMT'],
      ['double spaces', 'Thu, 18  Aug 2050 02:01:18 GMT'],
      ['dashes in an IMF date', 'Thu, 18-Aug-2050 02:01:18 GMT'],
      ['a one-digit hour', 'Thu, 18 Aug 2050 2:01:18 GMT'],
      ['a number', '0'],
      ['an ISO date', '2050-08-18T02:01:18Z'],
    ])('treats an Expires with %s as already expired', async (_what, expires) => {
      const { second, originRequests } = await twice(200, { expires });
      expect(second.headers['cache-status']).not.toMatch(/hit/);
      expect(originRequests).toBe(2);
    });

    it('treats several Expires lines as invalid, hence expired (node keeps only the first)', async () => {
      const { second, originRequests } = await twice(200, { expires: [httpDate(600), httpDate(1200)] });
      expect(second.headers['cache-status']).not.toMatch(/hit/);
      expect(originRequests).toBe(2);
    });

    it('ignores an invalid Date and uses the time the response was received', async () => {
      const { second, originRequests } = await twice(200, { date: 'yesterday', 'cache-control': 'max-age=60' });
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(second.headers['age']).toBe('0');
      expect(originRequests).toBe(1);
    });
  });

  describe('Age is delta-seconds (RFC 9111 §5.1, §1.2.2)', () => {
    it.each(['7200.0', '-1', 'soon', 'soon, 7200'])('ignores Age: %s (so max-age=3600 is still fresh)', async (age) => {
      const { second, originRequests } = await twice(200, { 'cache-control': 'max-age=3600', age });
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(originRequests).toBe(1);
    });

    it('reads a list-valued Age by its first member: Age: 7200, 0 against max-age=3600 is stale, Age: 5, 7200 is fresh at age 5 (RFC 9111 §5.1)', async () => {
      const stale = await twice(200, { 'cache-control': 'max-age=3600', age: '7200, 0' });
      const fresh = await twice(200, { 'cache-control': 'max-age=3600', age: '5, 7200' });
      expect(stale.first.headers['cache-status']).toMatch(/ttl=-3600/);
      expect(stale.second.headers['cache-status']).not.toMatch(/hit/);
      expect(stale.originRequests).toBe(2);
      expect(fresh.second.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=3595$/);
      expect(fresh.second.headers['age']).toBe('5');
      expect(fresh.originRequests).toBe(1);
    });

    it('honours a valid Age: 7200 against max-age=3600 (stale) and clamps a huge one instead of wrapping', async () => {
      const valid = await twice(200, { 'cache-control': 'max-age=3600', age: '7200' });
      const huge = await twice(200, { 'cache-control': 'max-age=3600', age: '999999999999999999999' });
      expect(valid.originRequests).toBe(2);
      expect(huge.originRequests).toBe(2);
      expect(huge.first.headers['cache-status']).toMatch(/ttl=-2147/);
    });
  });

  it.each([
    ['No-StOrE', 2],
    ['PRIVATE, max-age=60', 2],
    ['MaX-AgE=60', 1],
  ])('reads Cache-Control directive names case-insensitively: %s (RFC 9111 §5.2)', async (cacheControl, expected) => {
    const { originRequests } = await twice(200, { 'cache-control': cacheControl });
    expect(originRequests).toBe(expected);
  });

  describe('what may be stored (RFC 9111 §3, §5.2.2.3)', () => {
    it.each([500, 502, 299, 418, 451])('stores and reuses a %i with max-age=3600', async (status) => {
      const { first, second, originRequests } = await twice(status, { 'cache-control': 'max-age=3600' });
      expect(first.status).toBe(status);
      expect(second.status).toBe(status);
      expect(second.text).toBe(first.text);
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(originRequests).toBe(1);
    });

    it('stores a 500 marked public but gives it no heuristic freshness from Last-Modified unless public', async () => {
      const heuristic = await twice(500, { 'last-modified': httpDate(-86400 * 10) });
      const publicOne = await twice(299, { 'cache-control': 'public', 'last-modified': httpDate(-86400 * 10) });
      expect(heuristic.originRequests).toBe(2);
      expect(publicOne.originRequests).toBe(1);
    });

    it('stores a status it understands despite no-store when must-understand is present, and never one it does not understand', async () => {
      const understood = await twice(200, { 'cache-control': 'no-store, must-understand, max-age=60' });
      const unknown = await twice(299, { 'cache-control': 'no-store, must-understand, max-age=60' });
      expect(understood.originRequests).toBe(1);
      expect(unknown.originRequests).toBe(2);
    });
  });

  describe('requests with Authorization (RFC 9111 §3.5)', () => {
    const alice = { authorization: 'Bearer alice' };

    it.each(['public, max-age=60', 's-maxage=60'])('stores the answer to a request with Authorization when it says %s, and reuses it', async (cacheControl) => {
      const { second, originRequests } = await twice(200, { 'cache-control': cacheControl }, [alice, {}]);
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(originRequests).toBe(1);
    });

    it('stores one made shareable by must-revalidate alone, but revalidates it with each request\'s own credentials before reuse', async () => {
      const path = `/auth-mr-${++route}`;
      origin.route(path, (req, res) => {
        const etag = `"for ${req.headers['authorization'] ?? 'anonymous'}"`;
        if (req.headers['if-none-match'] === '"for Bearer alice"' && req.headers['authorization'] === 'Bearer bob') {
          return void res.writeHead(200, { 'cache-control': 'must-revalidate, max-age=60', etag }).end('bob page');
        }
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { 'cache-control': 'must-revalidate, max-age=60', etag }).end();
        res.writeHead(200, { 'cache-control': 'must-revalidate, max-age=60', etag }).end('alice page');
      });
      const first = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: alice });
      const again = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: alice });
      const bob = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: { authorization: 'Bearer bob' } });
      expect(first.text).toBe('alice page');
      expect(again.text).toBe('alice page');
      expect(again.headers['cache-status']).toMatch(/fwd=stale|fwd=request/);
      expect(bob.text).toBe('bob page');
      const seen = origin.requestsTo(path);
      expect(seen.map((r) => r.headers['authorization'])).toEqual(['Bearer alice', 'Bearer alice', 'Bearer bob']);
      expect(seen[1]!.headers['if-none-match']).toBe('"for Bearer alice"');
    });
  });

  it('answers If-Modified-Since from a stored response without Last-Modified by comparing with its Date (RFC 9110 §13.1.3, RFC 9111 §4.3.2)', async () => {
    const date = httpDate(-3600);
    const path = `/ims-date-${++route}`;
    origin.route(path, respond(200, { date, 'cache-control': 'max-age=7200' }, 'dated'));
    await viaProxy(proxy.url, `${origin.url}${path}`);
    const notModified = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: { 'if-modified-since': date } });
    const modified = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: { 'if-modified-since': httpDate(-7200) } });
    const invalid = await viaProxy(proxy.url, `${origin.url}${path}`, { headers: { 'if-modified-since': 'an hour ago' } });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toHaveLength(0);
    expect(modified.status).toBe(200);
    expect(invalid.status).toBe(200);
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('normalises Accept-Language and Accept-Encoding before matching variants: case, order, whitespace and q=1 (RFC 9111 §4.1)', async () => {
    const path = `/vary-${++route}`;
    origin.route(path, (req, res) => void res.writeHead(200, { vary: 'Accept-Language, Accept-Encoding', 'cache-control': 'max-age=60' }).end(`for ${req.headers['accept-language']}`));
    const get = (lang: string, enc = 'gzip, br') => viaProxy(proxy.url, `${origin.url}${path}`, { headers: { 'accept-language': lang, 'accept-encoding': enc } });
    const first = await get('en-US, fr');
    const reordered = await get('fr, EN-us', 'BR,gzip');
    const weighted = await get('en-US;q=1, fr;q=1.0');
    const other = await get('de');
    const otherWeight = await get('fr;q=0.5, en-US');
    expect(first.text).toBe('for en-US, fr');
    expect(reordered.text).toBe('for en-US, fr');
    expect(reordered.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(weighted.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(other.text).toBe('for de');
    expect(otherWeight.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo(path)).toHaveLength(3);
  });

  describe('a targeted Cache-Control field (RFC 9213, --targeted-cache-control)', () => {
    it('obeys the targeted field over Cache-Control and Expires, and forwards both fields untouched', async () => {
      const stored = await twice(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }, undefined, targeted);
      const refused = await twice(200, { 'cache-control': 'max-age=60', expires: httpDate(60), 'cdn-cache-control': 'private' }, undefined, targeted);
      expect(stored.originRequests).toBe(1);
      expect(stored.second.headers['cache-control']).toBe('no-store');
      expect(stored.second.headers['cdn-cache-control']).toBe('max-age=60');
      expect(refused.originRequests).toBe(2);
      expect(refused.first.headers['cdn-cache-control']).toBe('private');
    });

    it.each(['max-age="3600"', 'max-age=3600.0', 'max-age=?1', 'max-age', 's-maxage="3600"'])(
      'does not consume a lifetime that is not an integer (%s): the response is stale, whatever Cache-Control says (RFC 9213 §2.1, RFC 9111 §4.2.1)',
      async (directive) => {
        const { first, second, originRequests } = await twice(200, { 'cache-control': 'max-age=3600', 'cdn-cache-control': directive }, undefined, targeted);
        expect(first.headers['cache-status']).toMatch(/ttl=0/);
        expect(second.headers['cache-status']).not.toMatch(/hit/);
        expect(originRequests).toBe(2);
      },
    );

    it('reads a boolean member as the structured field it is: no-store=?0 is no no-store (RFC 9213 §2.1, RFC 8941 §3.3.6)', async () => {
      const { second, originRequests } = await twice(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'no-store=?0, max-age=60' }, undefined, targeted);
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(originRequests).toBe(1);
    });

    it('falls back to Cache-Control when the targeted field is not a valid dictionary, and is off by default', async () => {
      const invalid = await twice(200, { 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=="x"' }, undefined, targeted);
      const offByDefault = await twice(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' });
      expect(invalid.originRequests).toBe(1);
      expect(offByDefault.originRequests).toBe(2);
    });
  });
});

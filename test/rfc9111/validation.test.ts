// RFC 9111 §4.3: a stale (or no-cache) entry is revalidated with the proxy's own validators.
// The client's validators never go upstream with ours (STYLE.md trap 1): they are evaluated
// against the entry once it is validated, and a client that sent none never gets a 304.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond, validating } from '../helpers/respond.js';

describe('validation (RFC 9111 §4.3)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({}, { now: clock.now });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('revalidates a stale entry with its stored ETag and answers 200 with the stored body when the origin says 304 (RFC 9111 §4.3.1, §4.3.4)', async () => {
    origin.route('/etag', validating({ 'cache-control': 'max-age=10', etag: '"v1"', 'content-type': 'text/plain' }, 'stored body'));

    await get('/etag');
    clock.advance(20);
    const revalidated = await get('/etag');

    expect(revalidated.status).toBe(200);
    expect(revalidated.text).toBe('stored body');
    expect(revalidated.headers['etag']).toBe('"v1"');
    expect(revalidated.headers['content-type']).toBe('text/plain');
    expect(revalidated.headers['content-length']).toBe('11');
    expect(revalidated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const seen = origin.requestsTo('/etag');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['if-none-match']).toBeUndefined();
    expect(seen[1]!.headers['if-none-match']).toBe('"v1"');
  });

  it('serves the refreshed entry as fresh after a 304, for the lifetime the 304 gave it (RFC 9111 §4.3.4)', async () => {
    origin.route('/refreshed', validating({ 'cache-control': 'max-age=10', etag: '"r1"' }, 'body'));

    await get('/refreshed');
    clock.advance(20);
    await get('/refreshed');
    clock.advance(5);
    const hit = await get('/refreshed');

    expect(hit.text).toBe('body');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(hit.headers['age']).toBe('5');
    expect(origin.requestsTo('/refreshed')).toHaveLength(2);
  });

  it('answers with the Date of the latest 304, on the revalidated response and on later hits, whether the 304 repeated every field or changed Date alone (RFC 9111 §4.3.4)', async () => {
    let date = 'Mon, 07 Dec 2026 10:00:00 GMT';
    origin.route('/dated', (req, res) => {
      const fields = { 'cache-control': 'max-age=10', etag: '"d1"', date };
      if (req.headers['if-none-match'] === '"d1"') return void res.writeHead(304, fields).end();
      res.writeHead(200, { ...fields, 'content-length': '4' }).end('body');
    });

    await get('/dated');
    clock.advance(20);
    await get('/dated');
    clock.advance(20);
    const repeated = await get('/dated');
    date = 'Mon, 07 Dec 2026 10:00:40 GMT';
    clock.advance(20);
    const redated = await get('/dated');
    clock.advance(5);
    const hit = await get('/dated');

    expect(repeated.headers['date']).toBe('Mon, 07 Dec 2026 10:00:00 GMT');
    expect(redated.headers['date']).toBe('Mon, 07 Dec 2026 10:00:40 GMT');
    expect(redated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(hit.headers['date']).toBe('Mon, 07 Dec 2026 10:00:40 GMT');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(hit.headers['age']).toBe('5');
    expect(hit.headers['content-length']).toBe('4');
    expect(hit.text).toBe('body');
    expect(origin.requestsTo('/dated')).toHaveLength(4);
  });

  it('updates the stored header fields with those of the 304 and keeps the stored body (RFC 9111 §3.2, §4.3.4)', async () => {
    let version = 1;
    origin.route('/update-headers', (req, res) => {
      if (req.headers['if-none-match'] === '"u1"') {
        res.writeHead(304, { 'cache-control': 'max-age=100', etag: '"u1"', 'x-version': String(version) }).end();
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=10', etag: '"u1"', 'x-version': String(version), 'content-length': '4' }).end('body');
    });

    await get('/update-headers');
    version = 2;
    clock.advance(20);
    const revalidated = await get('/update-headers');
    clock.advance(50);
    const hit = await get('/update-headers');

    expect(revalidated.headers['x-version']).toBe('2');
    expect(revalidated.text).toBe('body');
    expect(hit.headers['x-version']).toBe('2');
    expect(hit.headers['content-length']).toBe('4');
    expect(hit.text).toBe('body');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=50$/);
    expect(origin.requestsTo('/update-headers')).toHaveLength(2);
  });

  it('sends the fields of each 304 on the hits after it, whether the 304 changed a field or only Date (RFC 9111 §3.2, §4.3.4)', async () => {
    let version = 1;
    let date = new Date(clock.now()).toUTCString();
    origin.route('/kept-head', (req, res) => {
      const fields = { 'cache-control': 'max-age=10', etag: '"p1"', 'x-version': String(version), date };
      if (req.headers['if-none-match'] === '"p1"') return void res.writeHead(304, fields).end();
      res.writeHead(200, { ...fields, 'content-length': '4' }).end('body');
    });

    await get('/kept-head');
    await get('/kept-head'); // a hit: its head is built once and kept with the entry
    version = 2;
    clock.advance(20);
    date = new Date(clock.now()).toUTCString();
    const changed = await get('/kept-head');
    const hitAfterChange = await get('/kept-head');
    clock.advance(20);
    date = new Date(clock.now()).toUTCString();
    const dateOnly = await get('/kept-head');
    const hitAfterDateOnly = await get('/kept-head');

    expect(changed.headers['x-version']).toBe('2');
    expect(hitAfterChange.headers['x-version']).toBe('2');
    expect(hitAfterChange.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(dateOnly.headers['date']).toBe(date);
    expect(hitAfterDateOnly.headers['date']).toBe(date);
    expect(hitAfterDateOnly.headers['x-version']).toBe('2');
    expect(hitAfterDateOnly.headers['content-length']).toBe('4');
    expect(hitAfterDateOnly.text).toBe('body');
    expect(origin.requestsTo('/kept-head')).toHaveLength(3);
  });

  it('revalidates an entry that has only Last-Modified with If-Modified-Since (RFC 9111 §4.3.1)', async () => {
    const lastModified = new Date(clock.now() - 3600_000).toUTCString();
    origin.route('/last-modified', validating({ 'cache-control': 'max-age=10', 'last-modified': lastModified }, 'lm body'));

    await get('/last-modified');
    clock.advance(20);
    const revalidated = await get('/last-modified');

    expect(revalidated.status).toBe(200);
    expect(revalidated.text).toBe('lm body');
    expect(revalidated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const seen = origin.requestsTo('/last-modified');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-modified-since']).toBe(lastModified);
    expect(seen[1]!.headers['if-none-match']).toBeUndefined();
  });

  it('sends both stored validators when the entry has an ETag and Last-Modified (RFC 9111 §4.3.1)', async () => {
    const lastModified = new Date(clock.now() - 3600_000).toUTCString();
    origin.route('/both', validating({ 'cache-control': 'max-age=10', etag: '"b1"', 'last-modified': lastModified }, 'both'));

    await get('/both');
    clock.advance(20);
    await get('/both');

    const seen = origin.requestsTo('/both');
    expect(seen[1]!.headers['if-none-match']).toBe('"b1"');
    expect(seen[1]!.headers['if-modified-since']).toBe(lastModified);
  });

  it('replaces the stored entry when the origin answers the revalidation with 200 (RFC 9111 §4.3.3)', async () => {
    let version = 1;
    origin.route('/replaced', (req, res) => {
      const etag = `"r${version}"`;
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
      res.writeHead(200, { 'cache-control': 'max-age=10', etag }).end(`version ${version}`);
    });

    await get('/replaced');
    version = 2;
    clock.advance(20);
    const replaced = await get('/replaced');
    clock.advance(5);
    const hit = await get('/replaced');

    expect(replaced.status).toBe(200);
    expect(replaced.text).toBe('version 2');
    expect(replaced.headers['etag']).toBe('"r2"');
    expect(replaced.headers['cache-status']).toMatch(/fwd=stale; fwd-status=200/);
    expect(hit.text).toBe('version 2');
    expect(hit.headers['etag']).toBe('"r2"');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    const seen = origin.requestsTo('/replaced');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"r1"');
  });

  it('fetches a stale entry without validators unconditionally (RFC 9111 §4.3.1)', async () => {
    origin.route('/no-validators', respond(200, { 'cache-control': 'max-age=10' }, 'plain'));

    await get('/no-validators');
    clock.advance(20);
    const again = await get('/no-validators');

    expect(again.status).toBe(200);
    expect(again.text).toBe('plain');
    const seen = origin.requestsTo('/no-validators');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBeUndefined();
    expect(seen[1]!.headers['if-modified-since']).toBeUndefined();
  });

  it('validates a response with Cache-Control: no-cache on every use, even while fresh (RFC 9111 §5.2.2.4)', async () => {
    origin.route('/no-cache', validating({ 'cache-control': 'no-cache, max-age=600', etag: '"nc"' }, 'nc body'));

    await get('/no-cache');
    const second = await get('/no-cache');
    const third = await get('/no-cache');

    expect(second.status).toBe(200);
    expect(second.text).toBe('nc body');
    expect(third.text).toBe('nc body');
    expect(third.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const seen = origin.requestsTo('/no-cache');
    expect(seen).toHaveLength(3);
    expect(seen[1]!.headers['if-none-match']).toBe('"nc"');
    expect(seen[2]!.headers['if-none-match']).toBe('"nc"');
  });

  it('revalidates when the request says Cache-Control: no-cache (RFC 9111 §5.2.1.4)', async () => {
    origin.route('/request-no-cache', validating({ 'cache-control': 'max-age=600', etag: '"rq"' }, 'rq body'));

    await get('/request-no-cache');
    const forced = await get('/request-no-cache', { 'cache-control': 'no-cache' });

    expect(forced.status).toBe(200);
    expect(forced.text).toBe('rq body');
    const seen = origin.requestsTo('/request-no-cache');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"rq"');
  });

  it('serves a must-revalidate response from cache while fresh, and revalidates it once stale even inside stale-while-revalidate (RFC 9111 §5.2.2.2)', async () => {
    origin.route('/must-revalidate', validating({ 'cache-control': 'max-age=10, must-revalidate, stale-while-revalidate=600', etag: '"mr"' }, 'mr'));

    await get('/must-revalidate');
    clock.advance(5);
    const fresh = await get('/must-revalidate');
    clock.advance(10);
    const stale = await get('/must-revalidate');

    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(stale.text).toBe('mr');
    expect(stale.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const seen = origin.requestsTo('/must-revalidate');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"mr"');
  });

  it('does not serve a stale must-revalidate response when the origin fails, even with stale-if-error (RFC 9111 §5.2.2.2)', async () => {
    let broken = false;
    const healthy = validating({ 'cache-control': 'max-age=10, must-revalidate, stale-if-error=600', etag: '"mf"' }, 'mf');
    origin.route('/must-revalidate-error', (req, res, body) => {
      if (broken) return void res.writeHead(500, { 'content-type': 'text/plain' }).end('origin broke');
      return healthy(req, res, body);
    });

    await get('/must-revalidate-error');
    broken = true;
    clock.advance(20);
    const failed = await get('/must-revalidate-error');

    expect(failed.status).toBe(500);
    expect(failed.text).toBe('origin broke');
    expect(origin.requestsTo('/must-revalidate-error')).toHaveLength(2);
  });

  it('answers 504 when a stale must-revalidate entry cannot be revalidated because the origin is unreachable (RFC 9111 §5.2.2.2)', async () => {
    const lonely = await startOrigin({ '/mr-down': validating({ 'cache-control': 'max-age=10, must-revalidate', etag: '"md"' }, 'md') });
    const url = `${lonely.url}/mr-down`;
    const first = await viaProxy(proxy.url, url);
    expect(first.text).toBe('md');
    await lonely.close();
    clock.advance(20);

    const unreachable = await viaProxy(proxy.url, url);

    expect(unreachable.status).toBe(504);
    expect(unreachable.text).toContain('upstream_unavailable');
    expect(lonely.requests).toHaveLength(1);
  });

  it('does not merge the client\'s stale If-None-Match into the revalidation: the origin sees only the stored tag (STYLE trap 1, RFC 9111 §4.3.1)', async () => {
    origin.route('/not-merged', validating({ 'cache-control': 'max-age=10', etag: '"current"' }, 'current body'));

    await get('/not-merged');
    clock.advance(20);
    const answer = await get('/not-merged', { 'if-none-match': '"old-from-scraper"' });

    const seen = origin.requestsTo('/not-merged');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"current"');
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('current body');
    expect(answer.headers['etag']).toBe('"current"');
  });

  it('does not forward the client\'s If-Modified-Since on revalidation; the origin sees the stored Last-Modified (RFC 9111 §4.3.1)', async () => {
    const lastModified = new Date(clock.now() - 3600_000).toUTCString();
    const clientDate = new Date(clock.now() - 60_000).toUTCString();
    origin.route('/ims-not-forwarded', validating({ 'cache-control': 'max-age=10', 'last-modified': lastModified }, 'ims'));

    await get('/ims-not-forwarded');
    clock.advance(20);
    await get('/ims-not-forwarded', { 'if-modified-since': clientDate });

    const seen = origin.requestsTo('/ims-not-forwarded');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-modified-since']).toBe(lastModified);
  });

  it('answers a client that sent no conditional with the full 200 when the origin validates the entry with 304 (RFC 9111 §4.3.4)', async () => {
    origin.route('/never-304', validating({ 'cache-control': 'max-age=10', etag: '"n"' }, 'full body'));

    await get('/never-304');
    const answers = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(20);
      answers.push(await get('/never-304'));
    }

    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('full body');
      expect(answer.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    }
    expect(origin.requestsTo('/never-304')).toHaveLength(4);
  });

  it('gives the Set-Cookie of a 304 to the client whose request it answered, on its 200 or its own 304, and never stores it for another (RFC 9111 §3.1, §4.3.4)', async () => {
    let renewals = 0;
    origin.route('/cookie-on-304', (req, res) => {
      const head = { 'cache-control': 'max-age=10', etag: '"c"' };
      if (req.headers['if-none-match'] === '"c"') return void res.writeHead(304, { ...head, 'set-cookie': [`session=renewed-${++renewals}; HttpOnly`, 'theme=dark'] }).end();
      res.writeHead(200, head).end('cookie page');
    });

    await get('/cookie-on-304');
    clock.advance(20);
    const revalidated = await get('/cookie-on-304');
    const hit = await get('/cookie-on-304');
    clock.advance(20);
    const conditional = await get('/cookie-on-304', { 'if-none-match': '"c"' });

    expect(revalidated.status).toBe(200);
    expect(revalidated.text).toBe('cookie page');
    expect(revalidated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(revalidated.headers['set-cookie']).toEqual(['session=renewed-1; HttpOnly', 'theme=dark']);
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(hit.headers['set-cookie']).toBeUndefined();
    expect(conditional.status).toBe(304);
    expect(conditional.headers['set-cookie']).toEqual(['session=renewed-2; HttpOnly', 'theme=dark']);
    expect(origin.requestsTo('/cookie-on-304')).toHaveLength(3);
  });

  it('keeps a cookie-bound entry bound to its cookie across a 304 refresh: a request with another cookie is not answered from it (RFC 9111 §4.3.4, invariant 2)', async () => {
    origin.route('/bound-refresh', (req, res) => {
      const cookie = req.headers['cookie'] ?? 'none';
      const head = { 'cache-control': 'max-age=10', etag: `"${cookie}"` };
      if (req.headers['if-none-match'] === `"${cookie}"`) return void res.writeHead(304, head).end();
      res.writeHead(200, head).end(`page for ${cookie}`);
    });

    await get('/bound-refresh', { cookie: 'user=alice' });
    clock.advance(20);
    const refreshed = await get('/bound-refresh', { cookie: 'user=alice' });
    const bob = await get('/bound-refresh', { cookie: 'user=bob' });

    expect(refreshed.text).toBe('page for user=alice');
    expect(refreshed.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(bob.text).toBe('page for user=bob');
    expect(bob.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/bound-refresh').map((r) => r.headers['cookie'])).toEqual(['user=alice', 'user=alice', 'user=bob']);
  });

  it('never hands a client an unsolicited 304: an origin that answers 304 to a revalidation without validators gets a 502 (RFC 9110 §15.4.5)', async () => {
    let stored = false;
    origin.route('/unsolicited-304', (_req, res) => {
      if (stored) return void res.writeHead(304).end();
      stored = true;
      res.writeHead(200, { 'cache-control': 'max-age=10' }).end('no validators');
    });

    await get('/unsolicited-304');
    clock.advance(20);
    const answer = await get('/unsolicited-304');

    expect(answer.status).toBe(502);
    expect(answer.text).toMatch(/^502 upstream_bad_response: /);
    const seen = origin.requestsTo('/unsolicited-304');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBeUndefined();
  });

  it('revalidates a stale entry for a HEAD request and answers with the stored head and no body (RFC 9111 §4.3.1)', async () => {
    origin.route('/head-stale', validating({ 'cache-control': 'max-age=10', etag: '"hs"' }, 'head stale body'));

    await get('/head-stale');
    clock.advance(20);
    const head = await viaProxy(proxy.url, `${origin.url}/head-stale`, { method: 'HEAD' });
    const hit = await get('/head-stale');

    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(head.headers['etag']).toBe('"hs"');
    expect(head.headers['content-length']).toBe('15');
    expect(head.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(hit.text).toBe('head stale body');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    const seen = origin.requestsTo('/head-stale');
    expect(seen.map((r) => [r.method, r.headers['if-none-match']])).toEqual([
      ['GET', undefined],
      ['GET', '"hs"'],
    ]);
  });

  it('answers 304 after revalidation when the client\'s own If-None-Match matches the validated entry (RFC 9111 §4.3.2)', async () => {
    origin.route('/client-matches', validating({ 'cache-control': 'max-age=10', etag: '"cm"' }, 'cm body'));

    await get('/client-matches');
    clock.advance(20);
    const answer = await get('/client-matches', { 'if-none-match': '"cm"' });

    expect(answer.status).toBe(304);
    expect(answer.body).toHaveLength(0);
    expect(answer.headers['etag']).toBe('"cm"');
    const seen = origin.requestsTo('/client-matches');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"cm"');
  });

  it('answers 200 with the new body when the client\'s tag matched the old entry but the origin replaced it (RFC 9111 §4.3.2, §4.3.3)', async () => {
    let version = 1;
    origin.route('/client-old-tag', (req, res) => {
      const etag = `"t${version}"`;
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
      res.writeHead(200, { 'cache-control': 'max-age=10', etag }).end(`body ${version}`);
    });

    await get('/client-old-tag');
    version = 2;
    clock.advance(20);
    const answer = await get('/client-old-tag', { 'if-none-match': '"t1"' });

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('body 2');
    expect(answer.headers['etag']).toBe('"t2"');
    expect(origin.requestsTo('/client-old-tag')).toHaveLength(2);
  });
});

// Parent proxies, step four: failures. A dead parent is cooled down and the request retried
// once on another; a parent refusing our credentials (407) gives a 502 naming the pool and the
// parent when no other is left; neverDirect never lets a request reach the origin direct; a ban
// marker's answer is never stored nor served, and the request goes through another parent; when
// every parent fails, a stale entry answers as when the origin is unreachable.
import { afterEach, describe, expect, it } from 'vitest';
import { emptyParents, parseParents } from '../../src/parents/config.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startParent, type TestParent } from '../helpers/parent.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, respond } from '../helpers/respond.js';

const USER = 'u';
const PASSWORD = 'failures-s3cret';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function origin(routes: Parameters<typeof startOrigin>[0]): Promise<Origin & { connections: number }> {
  const started = await startOrigin(routes);
  cleanups.push(() => started.close());
  const counted = Object.assign(started, { connections: 0 });
  started.server.on('connection', () => counted.connections++);
  return counted;
}
async function parent(options?: Parameters<typeof startParent>[0]): Promise<TestParent> {
  const started = await startParent(options);
  cleanups.push(() => started.close());
  return started;
}
async function proxyWith(pools: Record<string, unknown>, extra: Record<string, unknown> = {}, options: Parameters<typeof startProxy>[1] = {}): Promise<TestProxy> {
  const proxy = await startProxy({ parents: parseParents('parents', { pools, ...extra }, emptyParents()) }, options);
  cleanups.push(() => proxy.stop());
  return proxy;
}

describe('parent failures', () => {
  it('skips a dead parent: cools it down and retries the request once on the other', async () => {
    const site = await origin({ '*': respond(200, { 'cache-control': 'no-store' }, 'alive') });
    const live = await parent();
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const proxy = await proxyWith({ p: { parents: [dead, live.url], cooldown: '1m' } });

    const first = await viaProxy(proxy.url, `${site.url}/1`);
    const second = await viaProxy(proxy.url, `${site.url}/2`);

    expect([first.status, first.text, second.status]).toEqual([200, 'alive', 200]);
    expect(live.requests.map((r) => new URL(r.url).pathname)).toEqual(['/1', '/2']);
    expect(site.requests).toHaveLength(2);
  });

  it('a parent answering 407 to our credentials gives a 502 naming the pool and the parent, not the password, when no other is left', async () => {
    const site = await origin({ '*': respond(200, {}, 'never') });
    const strict = await parent({ user: USER, password: 'another-password' });
    const proxy = await proxyWith({ paid: { parents: [strict.url.replace('://', `://${USER}:${PASSWORD}@`)] } });

    const res = await viaProxy(proxy.url, `${site.url}/x`);

    expect(res.status).toBe(502);
    expect(res.text).toContain('pool "paid"');
    expect(res.text).toContain(`parent ${strict.url}`);
    expect(res.text).toContain('407');
    expect(res.text).not.toContain(PASSWORD);
    expect(proxy.logs.join('\n')).not.toContain(PASSWORD);
    expect(site.requests).toHaveLength(0);
  });

  it('neverDirect: with every parent of the pool down the request gets a 502 and the origin sees no connection', async () => {
    const site = await origin({ '*': respond(200, {}, 'must not be fetched direct') });
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const strict = await proxyWith({ paid: { parents: [dead] } }, { neverDirect: true });

    const first = await viaProxy(strict.url, `${site.url}/a`);
    const second = await viaProxy(strict.url, `${site.url}/b`);

    expect([first.status, second.status]).toEqual([502, 502]);
    expect(second.text).toContain('no parent of pool "paid" is up');
    expect(site.connections).toBe(0);

    // Without neverDirect a pool whose parents are all cooling down goes direct (Squid's default).
    const lax = await proxyWith({ paid: { parents: [dead] } });
    expect((await viaProxy(lax.url, `${site.url}/c`)).status).toBe(502);
    expect((await viaProxy(lax.url, `${site.url}/d`)).text).toBe('must not be fetched direct');
  });

  it('a ban marker answer is neither stored nor served: the request goes through the other parent, and never replaces the entry', async () => {
    const etag = '"e1"';
    const answers = ['ok', 'ban', 'not-modified', 'ban', 'not-modified'];
    const site = await origin({
      '/page': (_req, res) => {
        const next = answers.shift();
        if (next === 'ban') return void res.writeHead(429, { 'x-blocked': 'captcha', 'content-type': 'text/html' }).end('<p>you are blocked</p>');
        if (next === 'not-modified') return void res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
        res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'text/plain' }).end('the real page');
      },
    });
    const [a, b] = [await parent(), await parent()];
    // A cooldown far shorter than a request: the third request's ban (on either parent) always
    // finds the other one up again. With 10 ms, three fast requests found both cooling (504).
    const proxy = await proxyWith({ p: { parents: [a.url, b.url], ban: { status: [429], header: { name: 'x-blocked', pattern: 'captcha' } }, cooldown: '1ms' } });

    const results = [];
    for (let i = 0; i < 3; i++) results.push(await viaProxy(proxy.url, `${site.url}/page`));

    expect(results.map((r) => [r.status, r.text])).toEqual([
      [200, 'the real page'],
      [200, 'the real page'],
      [200, 'the real page'],
    ]);
    expect(site.requests).toHaveLength(5);
    expect(site.requests.slice(1).every((r) => r.headers['if-none-match'] === etag)).toBe(true);
    expect(a.requests.length + b.requests.length).toBe(5);
  });

  it('a body ban marker: a 200 whose first bytes match is neither stored nor served, the request goes through the other parent; a 200 that does not match is served byte-identical and stored', async () => {
    // A large page that does not match, in many chunks, so the peek holds part of it and the rest streams after.
    const page = Buffer.alloc(256 * 1024, 0);
    for (let i = 0; i < page.length; i++) page[i] = (i * 7 + (i >> 9)) & 0xff;
    page.write('<html><title>Results</title>', 0, 'latin1');
    // The first exit asked is banned: the site answers it a 200 captcha page; the next one gets the page.
    let answered = 0;
    const site = await origin({
      '/page': (_req, res) => {
        if (answered++ === 0) {
          return void res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/html' }).end('<html><head><title>Attention</title></head><body>Access denied: solve the captcha to continue</body></html>');
        }
        res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'application/octet-stream' });
        for (let at = 0; at < page.length; at += 1000) res.write(page.subarray(at, at + 1000));
        res.end();
      },
    });
    const [a, b] = [await parent(), await parent()];
    const proxy = await proxyWith({ p: { parents: [a.url, b.url], selection: 'round-robin', ban: { body: 'access denied.{0,80}captcha' }, cooldown: '10m' } });

    const first = await viaProxy(proxy.url, `${site.url}/page`);
    expect(first.status).toBe(200);
    expect(Buffer.compare(first.body, page)).toBe(0);
    expect(first.text).not.toContain('captcha');
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
    expect(site.requests).toHaveLength(2);

    // Stored: the next request is a hit, the origin and both parents see nothing more.
    const second = await viaProxy(proxy.url, `${site.url}/page`);
    expect(second.status).toBe(200);
    expect(Buffer.compare(second.body, page)).toBe(0);
    expect(second.headers['cache-status']).toMatch(/hit/);
    expect(site.requests).toHaveLength(2);
    expect(a.requests.length + b.requests.length).toBe(2);
  });

  it('when every parent fails, a stale entry answers as when the origin is unreachable (--serve-stale-if-disconnected)', async () => {
    const clock = fakeClock();
    let banned = false;
    const site = await origin({
      '/page': (_req, res) => {
        if (banned) return void res.writeHead(403, { 'content-type': 'text/html' }).end('blocked');
        res.writeHead(200, { etag: '"s"', 'cache-control': 'max-age=10', 'content-type': 'text/plain' }).end('stored page');
      },
    });
    const only = await parent();
    const proxy = await proxyWith({ p: { parents: [only.url], ban: { status: [403] } } }, {}, { now: clock.now });

    expect((await viaProxy(proxy.url, `${site.url}/page`)).text).toBe('stored page');
    clock.advance(60);
    banned = true;
    const stale = await viaProxy(proxy.url, `${site.url}/page`);

    expect(stale.status).toBe(200);
    expect(stale.text).toBe('stored page');
    expect(stale.headers['cache-status']).toMatch(/stale/);
    expect(site.requests).toHaveLength(2);
  });
});

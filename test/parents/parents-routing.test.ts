// Parent proxies, step three: routing rules (first match wins: host glob, client identity, URL
// wildcard; then the default), selection in a pool (sticky by session, user-name templates
// filled from the session header, which never goes upstream), and the explanation through the
// admin API and `etag-proxy parents explain|list` (issue 19, "Routing", "Selection in a pool").
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { createLogger } from '../../src/observe/log.js';
import { emptyParents, parseParents } from '../../src/parents/config.js';
import { viaProxy } from '../helpers/client.js';
import { runCli } from '../helpers/cli.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startParent, type TestParent } from '../helpers/parent.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually, respond } from '../helpers/respond.js';

const PASSWORD = 'routing-s3cret';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(parentCount: number, parents: (urls: string[]) => unknown, extra: Parameters<typeof startProxy>[0] = {}) {
  const origin: Origin = await startOrigin({ '*': respond(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }, 'page') });
  cleanups.push(() => origin.close());
  const chains: TestParent[] = [];
  for (let i = 0; i < parentCount; i++) {
    const chain = await startParent();
    cleanups.push(() => chain.close());
    chains.push(chain);
  }
  const proxy: TestProxy = await startProxy({ parents: parseParents('parents', parents(chains.map((c) => c.url)), emptyParents(), { TEST_PARENT_PW: PASSWORD }), ...extra });
  cleanups.push(() => proxy.stop());
  return { origin, chains, proxy };
}

describe('routing rules', () => {
  it('the first matching rule wins (host, then client), then the default; "direct" goes direct', async () => {
    const { origin, chains, proxy } = await setup(2, ([a, b]) => ({
      pools: { a: { parents: [a] }, b: { parents: [b] } },
      routes: [
        { match: { host: 'localhost' }, pool: 'a' },
        { match: { client: 'own-*' }, pool: 'direct' },
        { match: { url: 'http://127.0.0.1:*/via-a/*' }, pool: 'a' },
      ],
      default: 'b',
    }));
    const at = (path: string) => `http://127.0.0.1:${origin.port}${path}`;

    await viaProxy(proxy.url, `http://localhost:${origin.port}/1`, { headers: { 'x-proxy-client': 'own-laptop' } });
    await viaProxy(proxy.url, at('/2'), { headers: { 'x-proxy-client': 'own-laptop' } });
    await viaProxy(proxy.url, at('/via-a/3'));
    await viaProxy(proxy.url, at('/4'));

    expect(chains[0]!.requests.map((r) => new URL(r.url).pathname)).toEqual(['/1', '/via-a/3']);
    expect(chains[1]!.requests.map((r) => new URL(r.url).pathname)).toEqual(['/4']);
    expect(origin.requests.map((r) => r.url)).toEqual(['/1', '/2', '/via-a/3', '/4']);
  });

  it('a background stale-while-revalidate refresh (RFC 5861 §3) takes the route of the client whose request started it, as its own revalidation would', async () => {
    const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
    const origin: Origin = await startOrigin({ '*': respond(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60', etag: '"s1"', 'content-type': 'text/plain' }, 'page') });
    cleanups.push(() => origin.close());
    const chain = await startParent();
    cleanups.push(() => chain.close());
    const parents = { pools: { b: { parents: [chain.url] } }, routes: [{ match: { client: 'own-*' }, pool: 'direct' }], default: 'b' };
    const proxy = await startProxy({ parents: parseParents('parents', parents, emptyParents(), { TEST_PARENT_PW: PASSWORD }) }, { now: clock.now });
    cleanups.push(() => proxy.stop());
    const url = `http://127.0.0.1:${origin.port}/swr`;
    const own = { headers: { 'x-proxy-client': 'own-laptop' } };

    await viaProxy(proxy.url, url, own);
    clock.advance(20);
    const stale = await viaProxy(proxy.url, url, own);
    await eventually(() => proxy.proxy.ctx.background.size === 0 && origin.requests.length === 2, 5000);

    expect(stale.headers['cache-status']).toContain('detail=stale-while-revalidate');
    expect(origin.requests.map((r) => r.headers['if-none-match'])).toEqual([undefined, '"s1"']);
    expect(chain.requests).toEqual([]);
  });

  it('sticky selection keeps a session on one parent and fills the user-name template; the session header never goes upstream', async () => {
    const { origin, chains, proxy } = await setup(2, (urls) => ({
      pools: { resi: { parents: urls, selection: 'sticky', username: 'user-session-{session}-country-{country}', passwordEnv: 'TEST_PARENT_PW' } },
    }));
    const seen = new Map<string, Set<number>>();
    for (let round = 0; round < 3; round++) {
      for (let s = 1; s <= 6; s++) {
        const before = chains.map((c) => c.requests.length);
        const res = await viaProxy(proxy.url, `${origin.url}/s${s}`, { headers: { 'x-proxy-session': `session=s${s}; country=us` } });
        expect(res.status).toBe(200);
        const which = chains.findIndex((c, i) => c.requests.length > before[i]!);
        seen.set(`s${s}`, (seen.get(`s${s}`) ?? new Set()).add(which));
      }
    }
    for (const parents of seen.values()) expect(parents.size).toBe(1);
    const usernames = chains.flatMap((c) => c.requests.map((r) => `${r.username}:${r.password}`));
    expect(new Set(usernames)).toEqual(new Set([1, 2, 3, 4, 5, 6].map((s) => `user-session-s${s}-country-us:${PASSWORD}`)));
    expect(origin.requests.every((r) => r.headers['x-proxy-session'] === undefined)).toBe(true);

    // Without a country the template drops its "-country-" label; without a session, the client identity stands in.
    await viaProxy(proxy.url, `${origin.url}/nocountry`, { headers: { 'x-proxy-session': 'abc' } });
    await viaProxy(proxy.url, `${origin.url}/nosession`, { headers: { 'x-proxy-client': 'crawler-9' } });
    const last = chains.flatMap((c) => c.requests).filter((r) => /nocountry|nosession/.test(r.url)).map((r) => r.username);
    expect(last.sort()).toEqual(['user-session-abc', 'user-session-crawler_9']);

    const bad = await viaProxy(proxy.url, `${origin.url}/bad`, { headers: { 'x-proxy-session': 'session=a b' } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('x-proxy-session');
  }, 30_000);

  it('explains where a URL goes through the admin API and `etag-proxy parents explain|list`', async () => {
    const { proxy, chains } = await setup(2, ([a, b]) => ({
      pools: { a: { parents: [a] }, b: { parents: [b, `http://u:${PASSWORD}@127.0.0.1:9`], selection: 'sticky' } },
      routes: [{ match: { host: '*.shop.test' }, pool: 'a' }],
      default: 'b',
      neverDirect: true,
    }));
    const admin: AdminServer = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, createLogger('silent'));
    cleanups.push(() => admin.close());

    const explained = (await (await fetch(`${admin.url}/parents/explain?url=${encodeURIComponent('https://www.shop.test/x')}&client=c1`)).json()) as Record<string, unknown>;
    expect(explained).toMatchObject({ pool: 'a', because: 'routes[0] (host *.shop.test)', selection: 'round-robin', parents: [chains[0]!.url], neverDirect: true });
    const byDefault = (await (await fetch(`${admin.url}/parents/explain?url=${encodeURIComponent('http://other.test/')}&session=s1`)).json()) as Record<string, unknown>;
    expect(byDefault).toMatchObject({ pool: 'b', because: 'default', selection: 'sticky' });
    expect(byDefault['parent']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const list = await (await fetch(`${admin.url}/parents`)).text();
    expect(list).not.toContain(PASSWORD);
    expect(JSON.stringify(JSON.parse(list))).toContain('"parent":"http://127.0.0.1:9"');

    const cli = await runCli(['parents', 'explain', 'https://www.shop.test/x', '--client', 'c1', '--admin-url', admin.url]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('pool    a  (routes[0] (host *.shop.test))');
    const cliList = await runCli(['parents', 'list', '--admin-url', admin.url]);
    expect(cliList.stdout).toContain('pool b  (sticky)');
    expect(cliList.stdout).toContain('default → b  (neverDirect');
    expect(cliList.stdout).not.toContain(PASSWORD);
  }, 30_000);
});

// Patterns from the admin API cannot freeze the event loop (issue 18 item 6, invariant 6): the
// attack's globs (`*a*a*a*a*a*a*b` as ignoreQuery, rule path, client and host glob) and a
// catastrophic regular expression as a url rule are matched in linear time against long names,
// paths and ids; patterns the matchers do not read are a 400 naming the key, and nothing changes.
import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/observe/log.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const STAR_A = '*a*a*a*a*a*a*b';

let origin: Origin;
let proxy: TestProxy;
let admin: AdminServer;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${admin.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const requestsTo = (path: string) => origin.requests.filter((r) => r.url.split('?')[0] === path);

/** A no-cache page: stored and reused only where a rule with override: [no-cache] matches. */
function noCachePage(path: string): string {
  origin.route(path, (_req: http.IncomingMessage, res: http.ServerResponse) => void res.writeHead(200, { 'cache-control': 'no-cache', 'content-length': 2 }).end('nc'));
  return path;
}

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startProxy();
  admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
});
afterEach(async () => {
  await call('DELETE', '/rules');
  await call('PUT', '/policies', {});
});
afterAll(async () => {
  await admin?.close();
  await proxy?.stop();
  await origin?.close();
});

describe('the attack\'s patterns, loaded through the admin API, answer in milliseconds', () => {
  it('ignoreQuery, path, client and host globs and a (a+)+$ url rule against 64- and 80-character names, paths and ids', async () => {
    expect(
      (
        await call('PUT', '/rules', [
          { match: { host: '*', path: `/${STAR_A}` }, override: ['no-cache'], defaultTtl: '10m' },
          { match: { host: '*' }, ignoreQuery: [STAR_A] },
          { match: { url: '(a+)+$' }, heuristicPercent: 5 },
        ])
      ).status,
    ).toBe(200);
    expect((await call('PUT', `/policies/clients/${encodeURIComponent(STAR_A)}`, { validators: 'strip' })).status).toBe(201);
    expect((await call('PUT', `/policies/hosts/${encodeURIComponent(STAR_A)}`, { validators: 'strip' })).status).toBe(201);

    const path = noCachePage(`/${'a'.repeat(80)}`);
    const started = performance.now();
    const res = await viaProxy(proxy.url, `${origin.url}${path}?${'a'.repeat(64)}=1`, { headers: { 'x-proxy-client': 'a'.repeat(64) } });
    const elapsed = performance.now() - started;
    expect(res.status).toBe(200);
    expect(requestsTo(path)).toHaveLength(1);
    // Minutes with the backtracking RegExps (8.7 s for the path glob alone, 4.2 s for ignoreQuery);
    // milliseconds now: the bound leaves room for a machine busy with other tests.
    expect(elapsed).toBeLessThan(5000);
  });

  it('the globs still match what they say: a matching path is stored under the override, a matching query name left out of the key', async () => {
    await call('PUT', '/rules', [{ match: { host: '*', path: `/${STAR_A}` }, override: ['no-cache'], defaultTtl: '10m', ignoreQuery: [STAR_A] }]);
    const path = noCachePage('/xaxaxaxaxaxaxb');
    await viaProxy(proxy.url, `${origin.url}${path}?id=1&zazazazazazaz-b=1`);
    const again = await viaProxy(proxy.url, `${origin.url}${path}?id=1&aaaaaab=2`);
    expect(again.headers['cache-status']).toMatch(/hit/);
    expect(requestsTo(path)).toHaveLength(1);
    const resolved = await call('GET', `/policies/resolve?client=${'xa'.repeat(6)}b&host=h`);
    expect(resolved.json).toMatchObject({ validators: 'pass' }); // no client rule now (afterEach reset)
  });
});

describe('patterns the matchers do not read are refused with 400 naming the key; the rules stay as they were', () => {
  it.each([
    ['a url rule with lookahead', '/rules', [{ match: { url: '^http://x/(?=a)' } }], /^body\[0\]\.match\.url: expected a regular expression in RE2 syntax \(no lookaround or backreferences\), got "\^http:\/\/x\/\(\?=a\)"/],
    ['a url rule with a backreference', '/rules/0', { match: { url: '(a)\\1' } }, /^body\.match\.url: expected a regular expression in RE2 syntax/],
    ['a path glob over 1024 characters', '/rules', [{ match: { host: '*', path: `/${'*a'.repeat(600)}` } }], /^body\[0\]\.match\.path: expected a glob of at most 1024 characters, got "\/\*a\*a.*…" \(1201 characters\)$/],
    ['an extglob host', '/rules', [{ match: { host: '+(a|b).example' } }], /^body\[0\]\.match\.host: expected a glob without extglobs such as \+\(…\)/],
    ['a client glob with a POSIX class', `/policies/clients/${encodeURIComponent('[[:alpha:]]*')}`, { validators: 'strip' }, /^policies\.clients\[0\]\.match: expected a glob without POSIX classes/],
    ['a host glob whose braces expand past 64', `/policies/hosts/${encodeURIComponent('{a,b}'.repeat(7))}`, { validators: 'strip' }, /^policies\.hosts\[0\]\.match: expected a glob whose braces expand to at most 64 alternatives/],
  ])('%s', async (_what, path, body, message) => {
    const before = { rules: await call('GET', '/rules'), policies: await call('GET', '/policies') };
    const res = await call('PUT', path, body);
    expect(res.status).toBe(400);
    expect(String(res.json['error'])).toMatch(message);
    expect(await call('GET', '/rules')).toEqual(before.rules);
    expect(await call('GET', '/policies')).toEqual(before.policies);
  });
});

// Client identity on the wire: the user of Proxy-Authorization: Basic, then the identity header,
// then the IP address; seen through the per-client rule applied (strip drops a validator that
// pass would answer with 304) and the log line's `client` field. 407 cases carry a
// Proxy-Authenticate challenge; neither the identity header nor Proxy-Authorization reach the origin.
import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../src/index.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const ETAG = '"id-1"';
const BODY = Buffer.from('identity test body\n');

let origin: Origin;
const proxies: TestProxy[] = [];

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let pathCount = 0;
function freshPath(): string {
  const path = `/who-${++pathCount}`;
  origin.route(path, (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { etag: ETAG, 'cache-control': 'max-age=600', 'content-length': BODY.length }).end(BODY);
  });
  return path;
}

/** Rules that make the identity observable: the named clients strip, everyone else passes. */
const STRIP_FOR = (...clients: string[]): Partial<ProxyConfig> => ({
  validators: 'pass',
  policies: { default: {}, clients: clients.map((match) => ({ match, validators: 'strip' as const })), hosts: [] },
});

async function proxyWith(overrides: Partial<ProxyConfig>) {
  const started = await startProxy(overrides);
  proxies.push(started);
  return started;
}

/** Warm the entry, then ask again with its ETag: 304 under pass, 200 + dropped detail under strip. */
async function conditionalAfterWarm(proxyUrl: string, headers: Record<string, string>) {
  const path = freshPath();
  const target = `${origin.url}${path}`;
  await viaProxy(proxyUrl, target, { headers: { 'x-proxy-client': 'warm-up' } });
  const res = await viaProxy(proxyUrl, target, { headers: { 'if-none-match': ETAG, ...headers } });
  return { res, path, target };
}

function loggedClient(logs: string[], target: string): string | undefined {
  const records = logs.map((line) => JSON.parse(line) as { msg: string; url?: string; client?: string });
  return records.filter((r) => r.msg === 'request' && r.url === target).at(-1)?.client;
}

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin.close();
});

describe('identity resolution', () => {
  it('takes the user name of Proxy-Authorization: Basic (as HTTP_PROXY=http://scraper-7:secret@proxy sends it)', async () => {
    const { url, logs } = await proxyWith(STRIP_FOR('scraper-7'));
    const { res, path, target } = await conditionalAfterWarm(url, { 'proxy-authorization': basic('scraper-7', 'secret') });
    expect(res.status).toBe(200);
    expect(res.body.equals(BODY)).toBe(true);
    expect(res.headers['cache-status']).toContain('detail=dropped-if-none-match');
    expect(loggedClient(logs, target)).toBe('scraper-7');
    for (const sent of origin.requestsTo(path)) expect(sent.headers['proxy-authorization']).toBeUndefined();
  });

  it('Proxy-Authorization wins over the identity header', async () => {
    const { url, logs } = await proxyWith(STRIP_FOR('header-name'));
    const { res, target } = await conditionalAfterWarm(url, { 'proxy-authorization': basic('auth-name', ''), 'x-proxy-client': 'header-name' });
    expect(res.status).toBe(304);
    expect(loggedClient(logs, target)).toBe('auth-name');
  });

  it('takes the X-Proxy-Client header when there is no Proxy-Authorization, and never forwards it', async () => {
    const { url, logs } = await proxyWith(STRIP_FOR('scraper-8'));
    const { res, path, target } = await conditionalAfterWarm(url, { 'x-proxy-client': 'scraper-8' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-status']).toContain('detail=dropped-if-none-match');
    expect(loggedClient(logs, target)).toBe('scraper-8');

    // A miss is forwarded: the origin sees neither the identity header nor anything naming the client.
    const missPath = freshPath();
    await viaProxy(url, `${origin.url}${missPath}`, { headers: { 'x-proxy-client': 'scraper-8' } });
    for (const sent of [...origin.requestsTo(path), ...origin.requestsTo(missPath)]) {
      expect(sent.headers['x-proxy-client']).toBeUndefined();
      expect(JSON.stringify(sent.headers)).not.toContain('scraper-8');
    }
  });

  it('uses the configured header name instead; X-Proxy-Client is then an ordinary header', async () => {
    const { url, logs } = await proxyWith({ ...STRIP_FOR('scraper-9'), identity: { header: 'x-scraper', users: {}, requireAuth: false } });
    const { res, target } = await conditionalAfterWarm(url, { 'x-scraper': 'scraper-9' });
    expect(res.status).toBe(200);
    expect(loggedClient(logs, target)).toBe('scraper-9');

    const path = freshPath();
    await viaProxy(url, `${origin.url}${path}`, { headers: { 'x-scraper': 'scraper-9', 'x-proxy-client': 'just-a-header' } });
    const [sent] = origin.requestsTo(path);
    expect(sent!.headers['x-scraper']).toBeUndefined();
    expect(sent!.headers['x-proxy-client']).toBe('just-a-header');
  });

  it("falls back to the client's IP address", async () => {
    const { url, logs } = await proxyWith(STRIP_FOR('127.0.0.1'));
    const anonymous = await conditionalAfterWarm(url, {});
    expect(anonymous.res.status).toBe(200);
    expect(anonymous.res.headers['cache-status']).toContain('detail=dropped-if-none-match');
    expect(loggedClient(logs, anonymous.target)).toBe('127.0.0.1');

    // A named client from the same address is not matched by the IP rule.
    const named = await conditionalAfterWarm(url, { 'x-proxy-client': 'named' });
    expect(named.res.status).toBe(304);
    expect(loggedClient(logs, named.target)).toBe('named');
  });

  it('matches client globs (scraper-*) after exact ids', async () => {
    const { url } = await proxyWith({
      validators: 'strip',
      policies: { default: {}, clients: [{ match: 'scraper-*', validators: 'strip' }, { match: 'scraper-vip', validators: 'pass' }], hosts: [] },
    });
    expect((await conditionalAfterWarm(url, { 'x-proxy-client': 'scraper-12' })).res.status).toBe(200);
    expect((await conditionalAfterWarm(url, { 'x-proxy-client': 'scraper-vip' })).res.status).toBe(304);
  });
});

describe('407 Proxy Authentication Required', () => {
  it('answers 407 with Proxy-Authenticate when requireAuth is on and Proxy-Authorization is missing', async () => {
    const { url } = await proxyWith({ identity: { header: 'x-proxy-client', users: {}, requireAuth: true } });
    const path = freshPath();
    for (const headers of [{}, { 'x-proxy-client': 'scraper-7' }] as Array<Record<string, string>>) {
      const res = await viaProxy(url, `${origin.url}${path}`, { headers });
      expect(res.status).toBe(407);
      expect(res.headers['proxy-authenticate']).toMatch(/^Basic realm="etag-proxy"/);
      expect(res.text).toContain('proxy_auth_required');
    }
    const ok = await viaProxy(url, `${origin.url}${path}`, { headers: { 'proxy-authorization': basic('scraper-7', 'anything') } });
    expect(ok.status).toBe(200);
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('checks passwords when users are configured: a wrong password, an unknown user or a non-Basic scheme get 407', async () => {
    const { url, logs } = await proxyWith({ identity: { header: 'x-proxy-client', users: { 'scraper-7': 'secret' }, requireAuth: true } });
    const path = freshPath();
    const target = `${origin.url}${path}`;
    for (const authorization of [basic('scraper-7', 'wrong'), basic('scraper-7', ''), basic('stranger', 'secret'), 'Bearer abc']) {
      const res = await viaProxy(url, target, { headers: { 'proxy-authorization': authorization } });
      expect(res.status, authorization).toBe(407);
      expect(res.headers['proxy-authenticate']).toMatch(/^Basic realm="etag-proxy"/);
    }
    expect(origin.requestsTo(path)).toHaveLength(0);

    const ok = await viaProxy(url, target, { headers: { 'proxy-authorization': basic('scraper-7', 'secret') } });
    expect(ok.status).toBe(200);
    expect(ok.body.equals(BODY)).toBe(true);
    expect(loggedClient(logs, target)).toBe('scraper-7');
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(origin.requestsTo(path)[0]!.headers['proxy-authorization']).toBeUndefined();
  });

  it('a password is checked even without requireAuth when users are configured', async () => {
    const { url } = await proxyWith({ identity: { header: 'x-proxy-client', users: { 'scraper-7': 'secret' }, requireAuth: false } });
    const path = freshPath();
    const wrong = await viaProxy(url, `${origin.url}${path}`, { headers: { 'proxy-authorization': basic('scraper-7', 'nope') } });
    expect(wrong.status).toBe(407);
    const anonymous = await viaProxy(url, `${origin.url}${path}`);
    expect(anonymous.status).toBe(200);
  });
});

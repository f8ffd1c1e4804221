// The admin API on the wire (memory store): GET / PUT / DELETE /policies…, validation errors
// that name the key and leave the rules unchanged, the bearer token, 404 / 405 / 413, a store
// that cannot save (503), and every change applied to the proxy's traffic at once.
import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import type { ProxyConfig } from '../../src/index.js';
import { StoreUnavailable } from '../../src/errors.js';
import { silentLogger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { Backend } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const ETAG = '"adm-1"';
const BODY = Buffer.from('admin test body\n');

let origin: Origin;
const running: Array<{ stop(): Promise<void> }> = [];

async function start(overrides: Partial<ProxyConfig> = {}, options: { token?: string; backend?: Backend<StoredPolicies> } = {}) {
  const proxy: TestProxy = await startProxy(overrides, options.backend ? { backend: options.backend } : {});
  const admin: AdminServer = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', ...(options.token && { token: options.token }) }, silentLogger);
  running.push({ stop: () => admin.close() }, proxy);
  return { proxy, admin };
}

async function call(admin: AdminServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${admin.url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> & { error?: string } };
}

let pathCount = 0;
/** Warm an entry, then replay its ETag as `client`: 304 under pass, 200 under strip. */
async function replayStatus(proxyUrl: string, client: string): Promise<number> {
  const path = `/adm-${++pathCount}`;
  origin.route(path, (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { etag: ETAG, 'cache-control': 'max-age=600', 'content-length': BODY.length }).end(BODY);
  });
  await viaProxy(proxyUrl, `${origin.url}${path}`, { headers: { 'x-proxy-client': 'warm-up' } });
  const res = await viaProxy(proxyUrl, `${origin.url}${path}`, { headers: { 'x-proxy-client': client, 'if-none-match': ETAG } });
  return res.status;
}

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});
afterAll(async () => {
  await origin.close();
});

describe('reading and changing rules', () => {
  it('GET /policies shows the configured rules and the flags defaults', async () => {
    const { admin } = await start({
      validators: 'isolate',
      requestCacheControl: 'ignore',
      policies: { default: { validators: 'pass' }, clients: [{ match: 'scraper-*', validators: 'strip' }], hosts: [{ match: '*.example.com', requestCacheControl: 'honor' }] },
    });
    const res = await call(admin, 'GET', '/policies');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json).toEqual({
      policies: {
        default: { validators: 'pass' },
        clients: [{ match: 'scraper-*', validators: 'strip' }],
        hosts: [{ match: '*.example.com', requestCacheControl: 'honor' }],
      },
      flags: { validators: 'isolate', requestCacheControl: 'ignore' },
    });
  });

  it('PUT /policies/clients/<id> creates (201) then replaces (200) a rule, applied to the next request at once', async () => {
    const { proxy, admin } = await start();
    expect(await replayStatus(proxy.url, 'scraper-7')).toBe(304);

    const created = await call(admin, 'PUT', '/policies/clients/scraper-7', { validators: 'strip' });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ match: 'scraper-7', validators: 'strip' });
    expect(await replayStatus(proxy.url, 'scraper-7')).toBe(200);
    expect(await replayStatus(proxy.url, 'someone-else')).toBe(304);

    const replaced = await call(admin, 'PUT', '/policies/clients/scraper-7', { validators: 'pass', requestCacheControl: 'ignore' });
    expect(replaced.status).toBe(200);
    expect((await call(admin, 'GET', '/policies/clients/scraper-7')).json).toEqual({ match: 'scraper-7', validators: 'pass', requestCacheControl: 'ignore' });
    expect((await call(admin, 'GET', '/policies/clients')).json).toEqual([{ match: 'scraper-7', validators: 'pass', requestCacheControl: 'ignore' }]);
    expect(await replayStatus(proxy.url, 'scraper-7')).toBe(304);
  });

  it('DELETE /policies/clients/<id> removes the rule (200), then 404; ids are URL-decoded (globs too)', async () => {
    const { proxy, admin } = await start();
    expect((await call(admin, 'PUT', '/policies/clients/scraper-%2A', { validators: 'strip' })).json).toEqual({ match: 'scraper-*', validators: 'strip' });
    expect((await call(admin, 'PUT', `/policies/clients/${encodeURIComponent('team a/bot 1')}`, { validators: 'strip' })).status).toBe(201);
    expect(await replayStatus(proxy.url, 'scraper-3')).toBe(200);

    const deleted = await call(admin, 'DELETE', '/policies/clients/scraper-*');
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ deleted: { match: 'scraper-*', validators: 'strip' } });
    expect(await replayStatus(proxy.url, 'scraper-3')).toBe(304);

    const again = await call(admin, 'DELETE', '/policies/clients/scraper-*');
    expect(again.status).toBe(404);
    expect(again.json.error).toBe('no client rule "scraper-*"');
    expect((await call(admin, 'GET', '/policies/clients/nobody')).status).toBe(404);
    expect((await call(admin, 'GET', '/policies')).json['policies']).toEqual({ default: {}, clients: [{ match: 'team a/bot 1', validators: 'strip' }], hosts: [] });
  });

  it('GET / PUT / DELETE /policies/default and /policies/hosts/<glob>', async () => {
    const { proxy, admin } = await start();
    expect((await call(admin, 'GET', '/policies/default')).json).toEqual({});
    expect((await call(admin, 'PUT', '/policies/default', { validators: 'strip' })).json).toEqual({ validators: 'strip' });
    expect(await replayStatus(proxy.url, 'anyone')).toBe(200);
    expect((await call(admin, 'GET', '/policies/default')).json).toEqual({ validators: 'strip' });

    // The origin is 127.0.0.1: a host rule for it outranks the default.
    expect((await call(admin, 'PUT', '/policies/hosts/127.0.0.*', { validators: 'pass' })).status).toBe(201);
    expect(await replayStatus(proxy.url, 'anyone')).toBe(304);
    expect((await call(admin, 'GET', '/policies/resolve?client=anyone&host=127.0.0.1')).json).toEqual({
      client: 'anyone',
      host: '127.0.0.1',
      validators: 'pass',
      requestCacheControl: 'honor',
      rule: 'host:127.0.0.*',
    });
    expect((await call(admin, 'DELETE', '/policies/hosts/127.0.0.*')).status).toBe(200);
    expect(await replayStatus(proxy.url, 'anyone')).toBe(200);

    expect((await call(admin, 'DELETE', '/policies/default')).json).toEqual({ deleted: { validators: 'strip' } });
    expect((await call(admin, 'DELETE', '/policies/default')).status).toBe(404);
    expect(await replayStatus(proxy.url, 'anyone')).toBe(304);
  });

  it('PUT /policies replaces every rule', async () => {
    const { proxy, admin } = await start({ policies: { default: {}, clients: [{ match: 'old', validators: 'strip' }], hosts: [] } });
    const rules = { default: { validators: 'strip' }, clients: [{ match: 'vip', validators: 'pass' }] };
    const res = await call(admin, 'PUT', '/policies', rules);
    expect(res.status).toBe(200);
    expect((await call(admin, 'GET', '/policies')).json['policies']).toEqual({ ...rules, hosts: [] });
    expect(await replayStatus(proxy.url, 'vip')).toBe(304);
    expect(await replayStatus(proxy.url, 'old')).toBe(200);
  });
});

describe('bad requests change nothing', () => {
  const badBodies: Array<[string, string, unknown, string]> = [
    ['PUT', '/policies/clients/x', { validators: 'stirp' }, 'body.validators: expected pass | strip | isolate, got "stirp"'],
    ['PUT', '/policies/clients/x', { validators: 'strip', mode: 'x' }, 'body.mode: unknown key'],
    ['PUT', '/policies/clients/x', {}, 'body: expected at least one of validators, requestCacheControl'],
    ['PUT', '/policies/default', { requestCacheControl: 'sometimes' }, 'body.requestCacheControl: expected honor | ignore, got "sometimes"'],
    ['PUT', '/policies', { clients: [{ match: 'a', validators: 'stirp' }] }, 'body.clients[0].validators: expected pass | strip | isolate, got "stirp"'],
    ['PUT', '/policies', { clients: [{ match: 'a', validator: 'strip' }] }, 'body.clients[0].validator: unknown key'],
    ['PUT', '/policies', { hosts: 'all' }, 'body.hosts: expected a list of rules'],
    ['PUT', '/policies', '{"clients": [', 'body: not valid JSON'],
    ['PUT', '/policies/hosts/x', [], 'body: expected an object'],
  ];
  for (const [method, path, body, reason] of badBodies) {
    it(`${method} ${path} ${JSON.stringify(body)} → 400 "${reason}"`, async () => {
      const { proxy, admin } = await start({ policies: { default: {}, clients: [{ match: 'x', validators: 'strip' }], hosts: [] } });
      const before = await call(admin, 'GET', '/policies');
      const res = await call(admin, method, path, body);
      expect(res.status).toBe(400);
      expect(res.json.error).toContain(reason);
      expect(await call(admin, 'GET', '/policies')).toMatchObject({ json: before.json });
      expect(await replayStatus(proxy.url, 'x')).toBe(200);
    });
  }

  it('404 for unknown routes, 405 with Allow for wrong methods, 413 for oversized bodies', async () => {
    const { admin } = await start();
    const unknown = await call(admin, 'GET', '/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toContain('/nothing-here');
    const wrongMethod = await call(admin, 'POST', '/policies', {});
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, PUT');
    expect(wrongMethod.json.error).toContain('POST');
    const huge = await call(admin, 'PUT', '/policies', { default: {}, clients: Array.from({ length: 20_000 }, (_, i) => ({ match: `c${i}`, validators: 'strip' })) });
    expect(huge.status).toBe(413);
    expect((await call(admin, 'GET', '/policies')).json['policies']).toEqual({ default: {}, clients: [], hosts: [] });
  });

  it('503 with the reason when the rule store cannot save; the rules in force stay as they were', async () => {
    const memory = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1024 * 1024, now: Date.now });
    let storeDown = false;
    const backend: Backend<StoredPolicies> = {
      ...memory,
      rules: {
        ...memory.rules,
        load: () => memory.rules.load(),
        onChange: (listener) => memory.rules.onChange(listener),
        save: async (doc) => {
          if (storeDown) throw new StoreUnavailable('redis store rules.save timed out after 250 ms');
          await memory.rules.save(doc);
        },
      },
    };
    const { proxy, admin } = await start({}, { backend });
    storeDown = true;
    const res = await call(admin, 'PUT', '/policies/clients/x', { validators: 'strip' });
    expect(res.status).toBe(503);
    expect(res.json.error).toContain('rule store unavailable');
    expect(res.json.error).toContain('timed out after 250 ms');
    expect((await call(admin, 'GET', '/policies/clients/x')).status).toBe(404);
    expect(await replayStatus(proxy.url, 'x')).toBe(304);
    await memory.close();
  });
});

describe('bearer token', () => {
  it('answers 401 with WWW-Authenticate: Bearer when the token is missing or wrong, and serves with the right one', async () => {
    const { admin } = await start({}, { token: 's3cret-token' });
    const missing = await call(admin, 'GET', '/policies');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect(missing.json.error).toContain('Authorization: Bearer');
    const wrong = await call(admin, 'PUT', '/policies/default', { validators: 'strip' }, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
    const right = await call(admin, 'PUT', '/policies/default', { validators: 'strip' }, { authorization: 'Bearer s3cret-token' });
    expect(right.status).toBe(200);
    expect((await call(admin, 'GET', '/policies/default', undefined, { authorization: 'Bearer s3cret-token' })).json).toEqual({ validators: 'strip' });
  });
});

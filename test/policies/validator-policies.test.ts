// The per-client validator policies on the wire (issue 4, STYLE.md §5.5): the stale-validator
// story under pass / strip / isolate, Cache-Status details, requestCacheControl honor | ignore,
// unsafe methods untouched, and the isolate ledger written on change only. A real origin
// records every request it receives; time moves by the fake clock.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ValidatorMode } from '../../src/policy/types.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually } from '../helpers/respond.js';

const ETAG = '"v1-4f2a"';
const LAST_MODIFIED = 'Tue, 01 Jul 2025 10:00:00 GMT';
const BODY = Buffer.from('the page body: 0123456789'.repeat(20));

let origin: Origin;
const proxies: TestProxy[] = [];

/** Answers 304 only to a conditional carrying exactly our ETag, as a strict origin would. */
function page(maxAge: number) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const head = { etag: ETAG, 'last-modified': LAST_MODIFIED, 'cache-control': `max-age=${maxAge}` };
    if (req.headers['if-none-match'] === ETAG) {
      res.writeHead(304, head).end();
      return;
    }
    res.writeHead(200, { ...head, 'content-type': 'text/plain', 'content-length': BODY.length }).end(BODY);
  };
}

let pathCount = 0;
/** A fresh origin path per test, so no test sees another's cache entry. */
function freshPath(maxAge = 60): string {
  const path = `/page-${++pathCount}`;
  origin.route(path, page(maxAge));
  return path;
}

async function proxyWith(validators: ValidatorMode, extra: Parameters<typeof startProxy>[0] = {}, options: Parameters<typeof startProxy>[1] = {}) {
  const started = await startProxy({ validators, ...extra }, options);
  proxies.push(started);
  return started;
}

const as = (client: string, headers: Record<string, string> = {}) => ({ headers: { 'x-proxy-client': client, ...headers } });

const conditionalsAt = (path: string) => origin.requestsTo(path).filter((r) => r.headers['if-none-match'] !== undefined || r.headers['if-modified-since'] !== undefined);

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin.close();
});

describe('the stale-validator story: client B replays the If-None-Match client A was given', () => {
  const expected: Record<ValidatorMode, { bCopied: number; aOwn: number; cAfterRevalidation: number }> = {
    pass: { bCopied: 304, aOwn: 304, cAfterRevalidation: 304 },
    isolate: { bCopied: 200, aOwn: 304, cAfterRevalidation: 200 },
    strip: { bCopied: 200, aOwn: 200, cAfterRevalidation: 200 },
  };

  for (const mode of ['pass', 'isolate', 'strip'] as const) {
    it(`under ${mode}: B gets ${expected[mode].bCopied}, A gets ${expected[mode].aOwn}, and the origin sees at most one conditional, carrying the proxy's stored ETag`, async () => {
      const clock = fakeClock();
      const { url } = await proxyWith(mode, {}, { now: clock.now });
      const path = freshPath(60);
      const target = `${origin.url}${path}`;

      const a = await viaProxy(url, target, as('client-a'));
      expect(a.status).toBe(200);
      expect(a.headers['etag']).toBe(ETAG);
      expect(a.body.equals(BODY)).toBe(true);

      const b = await viaProxy(url, target, as('client-b', { 'if-none-match': a.headers['etag'] as string }));
      expect(b.status).toBe(expected[mode].bCopied);
      if (b.status === 200) {
        expect(b.body.equals(BODY)).toBe(true);
        expect(b.headers['cache-status']).toMatch(/; hit.*detail=dropped-if-none-match/);
      } else {
        expect(b.body.length).toBe(0);
        expect(b.headers['etag']).toBe(ETAG);
        expect(b.headers['cache-status']).not.toContain('dropped');
      }

      const aAgain = await viaProxy(url, target, as('client-a', { 'if-none-match': ETAG }));
      expect(aAgain.status).toBe(expected[mode].aOwn);
      if (aAgain.status === 200) expect(aAgain.body.equals(BODY)).toBe(true);
      else expect(aAgain.body.length).toBe(0);

      // Everything so far came from the cache: one plain fetch, no conditional.
      expect(origin.requestsTo(path)).toHaveLength(1);
      expect(conditionalsAt(path)).toHaveLength(0);

      // The entry goes stale; C (copied headers, never served) asks: the proxy revalidates with
      // its own validators, and the origin's 304 is never what C receives under strip / isolate.
      clock.advance(120);
      const c = await viaProxy(url, target, as('client-c', { 'if-none-match': ETAG }));
      expect(c.status).toBe(expected[mode].cAfterRevalidation);
      expect(c.headers['cache-status']).toContain('fwd=stale; fwd-status=304');
      if (c.status === 200) {
        expect(c.body.equals(BODY)).toBe(true);
        expect(c.headers['cache-status']).toContain('detail=dropped-if-none-match');
      } else {
        expect(c.body.length).toBe(0);
      }

      const conditionals = conditionalsAt(path);
      expect(conditionals).toHaveLength(1);
      expect(conditionals[0]!.headers['if-none-match']).toBe(ETAG);
      expect(conditionals[0]!.headers['if-modified-since']).toBe(LAST_MODIFIED);
      expect(conditionals[0]!.headers['x-proxy-client']).toBeUndefined();
      expect(origin.requestsTo(path)).toHaveLength(2);
    });
  }

  it('under isolate, a validator this proxy served to B is honoured for B afterwards (304), with no origin request', async () => {
    const { url } = await proxyWith('isolate');
    const path = freshPath(60);
    const target = `${origin.url}${path}`;
    await viaProxy(url, target, as('client-a'));
    const copied = await viaProxy(url, target, as('client-b', { 'if-none-match': ETAG }));
    expect(copied.status).toBe(200);
    // B now holds the body for ETAG: from now on its If-None-Match is its own.
    const own = await viaProxy(url, target, as('client-b', { 'if-none-match': ETAG }));
    expect(own.status).toBe(304);
    expect(own.headers['cache-status']).not.toContain('dropped');
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('under isolate, a background stale-while-revalidate refresh records nothing as served: the client that started it was given the old entry, so the new ETag is not its own yet', async () => {
    const clock = fakeClock();
    const { url, proxy } = await proxyWith('isolate', {}, { now: clock.now });
    const path = `/page-${++pathCount}`;
    let version = 1;
    origin.route(path, (req, res) => {
      const head = { etag: `"i${version}"`, 'cache-control': 'max-age=10, stale-while-revalidate=60' };
      if (req.headers['if-none-match'] === head.etag) return void res.writeHead(304, head).end();
      res.writeHead(200, { ...head, 'content-type': 'text/plain' }).end(`version ${version}`);
    });
    const target = `${origin.url}${path}`;
    await viaProxy(url, target, as('client-a'));
    version = 2;
    clock.advance(20);
    const stale = await viaProxy(url, target, as('client-a'));
    await eventually(() => proxy.ctx.background.size === 0);

    const guessed = await viaProxy(url, target, as('client-a', { 'if-none-match': '"i2"' }));

    expect(stale.text).toBe('version 1');
    expect(guessed.status).toBe(200);
    expect(guessed.text).toBe('version 2');
    expect(guessed.headers['cache-status']).toContain('dropped-if-none-match');
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('under isolate, validators served to a client for one URL do not count as served for another URL with the same ETag and Last-Modified (the ledger is keyed by URL)', async () => {
    const { url } = await proxyWith('isolate');
    const pathA = freshPath(60);
    const pathB = freshPath(60);
    await viaProxy(url, `${origin.url}${pathB}`, as('client-z'));
    await viaProxy(url, `${origin.url}${pathA}`, as('client-a'));
    const validators = { 'if-none-match': ETAG, 'if-modified-since': LAST_MODIFIED };

    const ownOnA = await viaProxy(url, `${origin.url}${pathA}`, as('client-a', validators));
    const copiedToB = await viaProxy(url, `${origin.url}${pathB}`, as('client-a', validators));

    expect(ownOnA.status).toBe(304);
    expect(copiedToB.status).toBe(200);
    expect(copiedToB.body.equals(BODY)).toBe(true);
    expect(copiedToB.headers['cache-status']).toMatch(/^etag-proxy; hit.*detail=dropped-if-none-match\+dropped-if-modified-since/);
    expect(origin.requestsTo(pathA)).toHaveLength(1);
    expect(origin.requestsTo(pathB)).toHaveLength(1);
  });

  it('under isolate, a client claiming another client\'s name from another address does not inherit its ledger: validators served to "client-a" are not honoured for a "client-a" on 127.0.0.2', async () => {
    const { url } = await proxyWith('isolate');
    const path = freshPath(60);
    const target = `${origin.url}${path}`;
    await viaProxy(url, target, as('client-a'));
    const fromElsewhere = new http.Agent({ localAddress: '127.0.0.2' });
    try {
      const claimed = await viaProxy(url, target, { ...as('client-a', { 'if-none-match': ETAG }), agent: fromElsewhere });
      expect(claimed.status).toBe(200);
      expect(claimed.body.equals(BODY)).toBe(true);
      expect(claimed.headers['cache-status']).toContain('detail=dropped-if-none-match');
      // The real client-a (same address, same label) still has its own ledger.
      expect((await viaProxy(url, target, as('client-a', { 'if-none-match': ETAG }))).status).toBe(304);
    } finally {
      fromElsewhere.destroy();
    }
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('drops If-Modified-Since too, and names it in Cache-Status (strip, isolate)', async () => {
    for (const mode of ['strip', 'isolate'] as const) {
      const { url } = await proxyWith(mode);
      const path = freshPath(60);
      const target = `${origin.url}${path}`;
      await viaProxy(url, target, as('client-a'));
      const b = await viaProxy(url, target, as('client-b', { 'if-modified-since': LAST_MODIFIED, 'if-none-match': ETAG }));
      expect(b.status).toBe(200);
      expect(b.body.equals(BODY)).toBe(true);
      expect(b.headers['cache-status']).toContain('detail=dropped-if-none-match+dropped-if-modified-since');
    }
  });
});

describe('with nothing cached', () => {
  it("under pass the client's conditional is forwarded and the origin's 304 returned (the client asked for it)", async () => {
    const { url } = await proxyWith('pass');
    const path = freshPath(60);
    const res = await viaProxy(url, `${origin.url}${path}`, as('client-b', { 'if-none-match': ETAG }));
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(origin.requestsTo(path)[0]!.headers['if-none-match']).toBe(ETAG);
  });

  for (const mode of ['strip', 'isolate'] as const) {
    it(`under ${mode} the client's conditional never reaches the origin and the client gets the body`, async () => {
      const { url } = await proxyWith(mode);
      const path = freshPath(60);
      const res = await viaProxy(url, `${origin.url}${path}`, as('client-b', { 'if-none-match': ETAG, 'if-modified-since': LAST_MODIFIED }));
      expect(res.status).toBe(200);
      expect(res.body.equals(BODY)).toBe(true);
      expect(res.headers['cache-status']).toContain('dropped-if-none-match');
      const sent = origin.requestsTo(path);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.headers['if-none-match']).toBeUndefined();
      expect(sent[0]!.headers['if-modified-since']).toBeUndefined();
    });
  }
});

describe("requestCacheControl: whether a client's Cache-Control / Pragma may force revalidation", () => {
  const cases: Array<{ name: string; headers: Record<string, string> }> = [
    { name: 'Cache-Control: max-age=0', headers: { 'cache-control': 'max-age=0' } },
    { name: 'Pragma: no-cache', headers: { pragma: 'no-cache' } },
  ];
  for (const { name, headers } of cases) {
    it(`honor: ${name} makes the proxy revalidate with its stored ETag; ignore (per client): served from the fresh entry`, async () => {
      const { url } = await proxyWith('strip', {
        policies: { default: {}, clients: [{ match: 'replayer', requestCacheControl: 'ignore' }], hosts: [] },
      });
      const path = freshPath(3600);
      const target = `${origin.url}${path}`;
      await viaProxy(url, target, as('warm'));

      const ignored = await viaProxy(url, target, as('replayer', headers));
      expect(ignored.status).toBe(200);
      expect(ignored.body.equals(BODY)).toBe(true);
      expect(ignored.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(origin.requestsTo(path)).toHaveLength(1);

      const honoured = await viaProxy(url, target, as('browser', headers));
      expect(honoured.status).toBe(200);
      expect(honoured.body.equals(BODY)).toBe(true);
      expect(honoured.headers['cache-status']).toContain('fwd=request; fwd-status=304');
      const sent = origin.requestsTo(path);
      expect(sent).toHaveLength(2);
      expect(sent[1]!.headers['if-none-match']).toBe(ETAG);
    });
  }

  it('honor: Cache-Control: no-store bypasses the cache; ignore: served from the entry', async () => {
    const { url } = await proxyWith('pass', { requestCacheControl: 'ignore', policies: { default: {}, clients: [{ match: 'strict', requestCacheControl: 'honor' }], hosts: [] } });
    const path = freshPath(3600);
    const target = `${origin.url}${path}`;
    await viaProxy(url, target, as('warm'));
    const ignored = await viaProxy(url, target, as('anyone', { 'cache-control': 'no-store' }));
    expect(ignored.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo(path)).toHaveLength(1);
    const honoured = await viaProxy(url, target, as('strict', { 'cache-control': 'no-store' }));
    expect(honoured.status).toBe(200);
    expect(honoured.headers['cache-status']).toContain('fwd=request');
    expect(origin.requestsTo(path)).toHaveLength(2);
  });
});

describe('unsafe methods are never touched', () => {
  for (const mode of ['pass', 'strip', 'isolate'] as const) {
    it(`under ${mode}, If-Match / If-Unmodified-Since / If-None-Match on PUT reach the origin untouched`, async () => {
      const { url } = await proxyWith(mode);
      const path = `/doc-${mode}`;
      origin.route(path, (_req, res) => void res.writeHead(412, { 'content-type': 'text/plain' }).end('precondition failed\n'));
      const res = await viaProxy(url, `${origin.url}${path}`, {
        method: 'PUT',
        headers: { 'x-proxy-client': 'editor', 'if-match': ETAG, 'if-unmodified-since': LAST_MODIFIED, 'if-none-match': '"other"', 'content-type': 'text/plain' },
        body: 'new content',
      });
      expect(res.status).toBe(412);
      expect(res.text).toBe('precondition failed\n');
      expect(res.headers['cache-status']).toContain('detail=unsafe-method');
      const sent = origin.requestsTo(path);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.method).toBe('PUT');
      expect(sent[0]!.headers['if-match']).toBe(ETAG);
      expect(sent[0]!.headers['if-unmodified-since']).toBe(LAST_MODIFIED);
      expect(sent[0]!.headers['if-none-match']).toBe('"other"');
      expect(sent[0]!.headers['x-proxy-client']).toBeUndefined();
      expect(sent[0]!.body.toString()).toBe('new content');
    });
  }
});

describe('the isolate ledger is written on change, not on every hit', () => {
  it('records a validator once per client and URL, and again only after the refresh interval', async () => {
    const clock = fakeClock();
    const memory = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1024 * 1024, now: clock.now });
    const writes: string[] = [];
    const backend = {
      ...memory,
      ledger: {
        recordServed: async (client: string, key: string, validator: string, ttlMs: number) => {
          writes.push(`${client} ${validator}`);
          await memory.ledger.recordServed(client, key, validator, ttlMs);
        },
        wasServed: (client: string, key: string, validator: string) => memory.ledger.wasServed(client, key, validator),
      },
    };
    const { url } = await proxyWith('isolate', { keepValidatorsMs: 600_000 }, { now: clock.now, backend });
    const path = freshPath(86_400);
    const target = `${origin.url}${path}`;

    for (let i = 0; i < 5; i++) expect((await viaProxy(url, target, as('client-a'))).status).toBe(200);
    // The ledger's client: the label within the verified identity (the connection's address).
    expect(writes).toEqual(['ip:127.0.0.1 client-a "v1-4f2a"', `ip:127.0.0.1 client-a lm:${LAST_MODIFIED}`]);

    // Half of --keep-validators later the record is rewritten, so it never expires while in use.
    clock.advance(6 * 60);
    expect((await viaProxy(url, target, as('client-a'))).status).toBe(200);
    expect(writes).toHaveLength(4);
    expect((await viaProxy(url, target, as('client-a', { 'if-none-match': ETAG }))).status).toBe(304);
    expect(origin.requestsTo(path)).toHaveLength(1);
    await memory.close();
  });
});

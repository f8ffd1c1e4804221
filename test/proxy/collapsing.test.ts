// Request collapsing: concurrent requests for one missing or stale entry cause one origin
// request, and the others are answered from its result; when that result may not be stored,
// the waiting requests are forwarded on their own.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin, type OriginHandler } from '../helpers/origin.js';
import { fakeClock, proxyReceived, startProxy, type TestProxy } from '../helpers/proxy.js';
import { sleep } from '../helpers/respond.js';

/** Answers after `ms`, so that concurrent requests overlap with the first one. */
function slow(ms: number, handler: OriginHandler): OriginHandler {
  return async (req, res, body) => {
    await sleep(ms);
    await handler(req, res, body);
  };
}

/** Answers once `until` resolves: the requests that must overlap with this one have all reached the proxy. */
function heldUntil(until: Promise<void>, handler: OriginHandler): OriginHandler {
  return async (req, res, body) => {
    await until;
    await handler(req, res, body);
  };
}

describe('request collapsing', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  // Enough sockets for every concurrent client at once.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { agent, headers });
  const many = (n: number, path: string) => Promise.all(Array.from({ length: n }, () => get(path)));

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({}, { now: clock.now });
  });

  afterAll(async () => {
    agent.destroy();
    await proxy?.stop();
    await origin?.close();
  });

  it('sends one origin request for 100 concurrent misses of one URL and gives all 100 clients the same body (RFC 9211 §2.7: collapsed)', async () => {
    const body = Buffer.from(Array.from({ length: 32 * 1024 }, (_, i) => (i * 13) % 256));
    const allArrived = proxyReceived(proxy, '/popular', 100);
    origin.route('/popular', heldUntil(allArrived, (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"p"' }).end(body)));

    const answers = await many(100, '/popular');

    expect(origin.requestsTo('/popular')).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers['etag']).toBe('"p"');
      expect(answer.body.equals(body)).toBe(true);
    }
    expect(answers.filter((a) => /collapsed/.test(String(a.headers['cache-status'])))).toHaveLength(99);
  });

  it('sends one revalidation for concurrent requests of a stale entry, and answers all of them with the full body', async () => {
    let allArrived: Promise<void> = Promise.resolve();
    origin.route(
      '/stale-popular',
      async (req, res) => {
        await allArrived;
        if (req.headers['if-none-match'] === '"s"') return void res.writeHead(304, { etag: '"s"', 'cache-control': 'max-age=60' }).end();
        res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"s"' }).end('stale popular body');
      },
    );
    await get('/stale-popular');
    clock.advance(120);
    allArrived = proxyReceived(proxy, '/stale-popular', 30);

    const answers = await many(30, '/stale-popular');

    const seen = origin.requestsTo('/stale-popular');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBe('"s"');
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('stale popular body');
    }
  });

  it('forwards each waiting request on its own when the response turns out not to be storable (no-store)', async () => {
    let n = 0;
    origin.route('/not-storable', slow(50, (_req, res) => void res.writeHead(200, { 'cache-control': 'no-store' }).end(`answer ${++n}`)));

    const answers = await many(10, '/not-storable');

    expect(origin.requestsTo('/not-storable')).toHaveLength(10);
    expect(new Set(answers.map((a) => a.text)).size).toBe(10);
    for (const answer of answers) expect(answer.status).toBe(200);
  });

  it('stops collapsing a URL whose last response could not be stored, so nobody waits for a response it cannot share (hit-for-miss)', async () => {
    // The origin holds every answer until all 10 of the next requests are with it at once (or
    // 10 s pass): were they collapsed behind a leader, they could never be there together.
    let atOrigin = 0;
    let mostAtOnce = 0;
    let allThere: () => void = () => {};
    const together = new Promise<void>((resolve) => (allThere = resolve));
    const deadline = setTimeout(allThere, 10_000);
    let held = false;
    origin.route('/uncacheable-again', async (_req, res) => {
      if (held) {
        mostAtOnce = Math.max(mostAtOnce, ++atOrigin);
        if (atOrigin === 10) allThere();
        await together;
      }
      res.writeHead(200, { 'cache-control': 'private' }).end('mine');
    });
    const first = await get('/uncacheable-again');
    expect(first.headers['cache-status']).not.toContain('collapsed');

    held = true;
    const answers = await many(10, '/uncacheable-again');
    clearTimeout(deadline);

    expect(answers.every((a) => a.status === 200 && a.text === 'mine')).toBe(true);
    expect(answers.some((a) => String(a.headers['cache-status']).includes('collapsed'))).toBe(false);
    expect(origin.requestsTo('/uncacheable-again')).toHaveLength(11);
    // In parallel: all ten at the origin at once, none waiting for a leader's answer.
    expect(mostAtOnce).toBe(10);
  });

  it('never hands the origin\'s 304 for one client\'s forwarded conditional to the clients waiting on it (RFC 9111 §4.3.2)', async () => {
    // The leader reaches the proxy first; the origin answers it once the five followers are in.
    const followersIn = proxyReceived(proxy, '/conditional-leader', 6);
    origin.route(
      '/conditional-leader',
      heldUntil(followersIn, (req, res) => {
        if (req.headers['if-none-match'] === '"c"') return void res.writeHead(304, { etag: '"c"' }).end();
        res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"c"' }).end('conditional leader body');
      }),
    );

    const leaderIn = proxyReceived(proxy, '/conditional-leader', 1);
    const leader = get('/conditional-leader', { 'if-none-match': '"c"' });
    await leaderIn;
    const followers = await many(5, '/conditional-leader');

    expect((await leader).status).toBe(304);
    for (const answer of followers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('conditional leader body');
    }
    const seen = origin.requestsTo('/conditional-leader');
    expect(seen[0]!.headers['if-none-match']).toBe('"c"');
    expect(seen.slice(1).every((r) => r.headers['if-none-match'] === undefined)).toBe(true);
  });

  it('forwards the waiting requests on their own when the first request fails', async () => {
    let n = 0;
    origin.route('/first-fails', slow(50, (_req, res) => {
      n++;
      if (n === 1) return void res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      res.writeHead(200, { 'cache-control': 'max-age=60' }).end('recovered');
    }));

    const answers = await many(5, '/first-fails');

    expect(answers.filter((a) => a.status === 503)).toHaveLength(1);
    expect(answers.filter((a) => a.text === 'recovered')).toHaveLength(4);
    expect(origin.requestsTo('/first-fails')).toHaveLength(5);
  });

  it('does not collapse requests for different URLs', async () => {
    origin.route('*', slow(50, (req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end(req.url)));

    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`/distinct/${i}`)));

    expect(answers.map((a) => a.text)).toEqual(Array.from({ length: 10 }, (_, i) => `/distinct/${i}`));
    for (let i = 0; i < 10; i++) expect(origin.requestsTo(`/distinct/${i}`)).toHaveLength(1);
  });
});

// Bad input and failing origins get a clear answer and the proxy keeps serving everyone else:
// malformed requests → 400, unknown host / refused connection → 502, a silent origin → 504,
// an origin that fails mid-body → a truncated transfer and nothing stored. Requests addressed
// to the proxy itself get its help page (or 404), never a loop.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, respond, sleep } from '../helpers/respond.js';

interface Outcome {
  status: number;
  bytes: number;
  /** Did the response body end properly (all of Content-Length, or the last chunk)? */
  complete: boolean;
}

/** GET through the proxy on a fresh connection, reporting how the body ended. */
function outcomeOf(proxyUrl: string, target: string): Promise<Outcome> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const clientReq = http.request({ host: proxy.hostname, port: proxy.port, path: target, agent: false });
    clientReq.on('response', (clientRes) => {
      let bytes = 0;
      clientRes.on('data', (chunk: Buffer) => (bytes += chunk.length));
      clientRes.on('error', () => {});
      clientRes.on('close', () => resolve({ status: clientRes.statusCode ?? 0, bytes, complete: clientRes.complete }));
    });
    clientReq.on('error', reject);
    clientReq.end();
  });
}

const TIMEOUT_MS = 300;

describe('errors', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const stalled: http.ServerResponse[] = [];

  beforeAll(async () => {
    origin = await startOrigin({
      '/ok': respond(200, { 'cache-control': 'no-store' }, 'still serving'),
      '/fine': respond(200, { 'cache-control': 'no-store' }, 'fine'),
      // Never answers: only the proxy's upstream timeout ends the wait.
      '/silent': (_req, res) => void stalled.push(res),
      '/stalls-mid-body': (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '1000' });
        res.write('x'.repeat(100));
        stalled.push(res);
      },
    });
    proxy = await startProxy({ upstreamTimeoutMs: TIMEOUT_MS });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  describe('malformed requests', () => {
    it('answers a malformed request line with 400 and a short text body, and keeps serving the next client (RFC 9112 §3, RFC 9110 §15.5.1)', async () => {
      const answer = await rawRequest(proxy.url, 'THIS IS NOT HTTP AT ALL\r\n\r\n');
      const next = await viaProxy(proxy.url, `${origin.url}/ok`);

      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toMatch(/content-type: text\/plain/i);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      expect(body).toMatch(/^400 bad_request: [^\n]+\n$/);
      expect(body.length).toBeLessThan(200);
      expect(next.status).toBe(200);
      expect(next.text).toBe('still serving');
    });

    it.each([
      ['a URL that does not parse', 'http://[::1/x'],
      ['an unsupported scheme', 'ftp://example.com/file'],
      ['userinfo in the target', 'http://user:pass@127.0.0.1/x'],
    ])('answers 400 to a request-target with %s (RFC 9112 §3.2)', async (_what, target) => {
      const before = origin.requests.length;

      const answer = await rawRequest(proxy.url, `GET ${target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n`);

      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toMatch(/^400 bad_target: [^\n]+\n$/);
      expect(origin.requests.length).toBe(before);
    });
  });

  describe('origins that cannot be reached', () => {
    it('answers 502 when the origin host name does not resolve (RFC 9110 §15.6.3)', async () => {
      const answer = await viaProxy(proxy.url, 'http://nonexistent.invalid/');

      expect(answer.status).toBe(502);
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
      expect(answer.text).toMatch(/^502 upstream_unknown_host: .*nonexistent\.invalid/);
      expect(proxy.logs.some((line) => line.includes('"error":"upstream_unknown_host"'))).toBe(true);
    });

    it('answers 502 when the origin refuses the connection (RFC 9110 §15.6.3)', async () => {
      const port = await closedPort();

      const answer = await viaProxy(proxy.url, `http://127.0.0.1:${port}/`);
      const posted = await viaProxy(proxy.url, `http://127.0.0.1:${port}/`, { method: 'POST', body: 'x' });

      expect(answer.status).toBe(502);
      expect(answer.text).toMatch(/^502 upstream_refused: /);
      expect(posted.status).toBe(502);
      expect(proxy.logs.some((line) => line.includes('"error":"upstream_refused"'))).toBe(true);
    });

    it('answers 502 when the origin closes the connection without answering (RFC 9110 §15.6.3)', async () => {
      origin.route('/hang-up', (req) => void req.socket.destroy());

      const got = await viaProxy(proxy.url, `${origin.url}/hang-up`);
      const posted = await viaProxy(proxy.url, `${origin.url}/hang-up`, { method: 'POST', body: 'x' });

      expect(got.status).toBe(502);
      expect(got.text).toMatch(/^502 upstream_reset: /);
      expect(posted.status).toBe(502);
      expect(origin.requestsTo('/hang-up').filter((r) => r.method === 'POST')).toHaveLength(1);
    });

    it('answers 504 when the origin sends nothing for upstreamTimeoutMs (RFC 9110 §15.6.5)', async () => {
      const started = Date.now();
      const answer = await viaProxy(proxy.url, `${origin.url}/silent`);
      const elapsed = Date.now() - started;

      expect(answer.status).toBe(504);
      expect(answer.text).toMatch(/^504 upstream_timeout: /);
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 1500);
      expect(origin.requestsTo('/silent')).toHaveLength(1);
    });
  });

  describe('origins that fail mid-body', () => {
    it('cuts the client\'s transfer when the origin resets mid-body (Content-Length), and stores nothing (RFC 9112 §8, RFC 9111 §3.3)', async () => {
      let reset = true;
      origin.route('/reset-sized', (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '100000' });
        if (!reset) return void res.end('y'.repeat(100000));
        res.write('x'.repeat(5000));
        setTimeout(() => res.socket?.destroy(), 20);
      });

      const truncated = await outcomeOf(proxy.url, `${origin.url}/reset-sized`);
      reset = false;
      const next = await outcomeOf(proxy.url, `${origin.url}/reset-sized`);

      expect(truncated.status).toBe(200);
      expect(truncated.complete).toBe(false);
      expect(truncated.bytes).toBeLessThan(100000);
      expect(next).toEqual({ status: 200, bytes: 100000, complete: true });
      expect(origin.requestsTo('/reset-sized')).toHaveLength(2);
    });

    it('cuts the client\'s transfer when the origin resets a chunked body, instead of ending it cleanly (RFC 9112 §8, RFC 9111 §3.3)', async () => {
      origin.route('/reset-chunked', (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.write('x'.repeat(5000));
        setTimeout(() => res.socket?.destroy(), 20);
      });

      const truncated = await outcomeOf(proxy.url, `${origin.url}/reset-chunked`);
      const again = await outcomeOf(proxy.url, `${origin.url}/reset-chunked`);

      expect(truncated.complete).toBe(false);
      expect(again.complete).toBe(false);
      expect(origin.requestsTo('/reset-chunked')).toHaveLength(2);
    });

    it('cuts the client\'s transfer when the origin stalls mid-body past upstreamTimeoutMs, and stores nothing (RFC 9112 §8, RFC 9111 §3.3)', async () => {
      const truncated = await outcomeOf(proxy.url, `${origin.url}/stalls-mid-body`);

      expect(truncated.status).toBe(200);
      expect(truncated.complete).toBe(false);
      expect(truncated.bytes).toBe(100);
      origin.route('/stalls-mid-body', respond(200, { 'cache-control': 'max-age=60' }, 'whole'));
      const next = await viaProxy(proxy.url, `${origin.url}/stalls-mid-body`);
      expect(next.text).toBe('whole');
      expect(origin.requestsTo('/stalls-mid-body')).toHaveLength(2);
    });

    it('keeps serving other clients while one transfer is being cut', async () => {
      origin.route('/slow-reset', (_req, res) => {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('x');
        setTimeout(() => res.socket?.destroy(), 100);
      });

      const [cut, ok] = await Promise.all([outcomeOf(proxy.url, `${origin.url}/slow-reset`), sleep(10).then(() => viaProxy(proxy.url, `${origin.url}/ok`))]);

      expect(cut.complete).toBe(false);
      expect(ok.text).toBe('still serving');
    });
  });

  describe('requests addressed to the proxy itself', () => {
    it('answers an origin-form GET / with the help page (200) (RFC 9112 §3.2.1)', async () => {
      const answer = await rawRequest(proxy.url, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nConnection: close\r\n\r\n`);

      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer).toMatch(/content-type: text\/plain/i);
      expect(answer).toContain('etag-proxy: a forward caching HTTP proxy');
      expect(answer).toContain('curl -x');
    });

    it('answers an origin-form request for an unknown path with 404 (RFC 9112 §3.2.1)', async () => {
      const answer = await rawRequest(proxy.url, `GET /nope HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nConnection: close\r\n\r\n`);

      expect(answer).toMatch(/^HTTP\/1\.1 404 /);
      expect(answer).toMatch(/\r\n\r\n404 not_found: \/nope [^\n]*\n$/);
    });

    it('answers an absolute-form request naming the proxy\'s own address locally, not in a loop', async () => {
      const help = await viaProxy(proxy.url, `${proxy.url}/`);
      const missing = await viaProxy(proxy.url, `${proxy.url}/nope`);

      expect(help.status).toBe(200);
      expect(help.text).toContain('etag-proxy: a forward caching HTTP proxy');
      expect(missing.status).toBe(404);
    });

    it('stops a request that has already come through this proxy five times with 508, using Via (RFC 9110 §7.6.3)', async () => {
      // What a loop through another proxy looks like (etag-proxy → squid → etag-proxy → …).
      const via = Array.from({ length: 5 }, () => '1.1 etag-proxy, 1.1 squid').join(', ');
      const before = origin.requestsTo('/fine').length;
      const looped = await viaProxy(proxy.url, `${origin.url}/fine`, { headers: { via } });

      expect(looped.status).toBe(508);
      expect(looped.text).toContain('forwarding_loop');
      expect(origin.requestsTo('/fine')).toHaveLength(before);
      expect(proxy.logs.filter((line) => line.includes('"error":"forwarding_loop"'))).toHaveLength(1);
    });

    it('forwards a request that went through a few other proxies, its own name among them', async () => {
      const chained = await viaProxy(proxy.url, `${origin.url}/fine`, { headers: { via: '1.1 etag-proxy, 1.1 squid, 1.1 etag-proxy' } });

      expect(chained.status).toBe(200);
      const seen = origin.requestsTo('/fine').at(-1)!;
      expect(seen.headers['via']).toBe('1.1 etag-proxy, 1.1 squid, 1.1 etag-proxy, 1.1 etag-proxy');
    });
  });
});

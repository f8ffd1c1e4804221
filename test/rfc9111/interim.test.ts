// Interim responses (RFC 9110 §15.2): relayed to an HTTP/1.1 client before the final response,
// never to an HTTP/1.0 one, never stored, and their fields never join the stored response.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

/** A GET through the proxy that records the interim responses it saw before the final one. */
function getWithInterims(proxyUrl: string, target: string): Promise<{ interims: Array<{ status: number; headers: http.IncomingHttpHeaders }>; status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const interims: Array<{ status: number; headers: http.IncomingHttpHeaders }> = [];
    const req = http.request({ host: proxy.hostname, port: proxy.port, path: target, headers: { host: new URL(target).host }, agent: false });
    req.on('information', (info) => interims.push({ status: info.statusCode, headers: info.headers }));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ interims, status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('interim responses (RFC 9110 §15.2)', () => {
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '*': (_req, res) => {
        res.writeProcessing();
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style', 'x-hint': 'early' });
        setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('final body'), 20);
      },
    });
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('relays 102 and 103 before the final response, keeps their fields out of it, and stores only the final response', async () => {
    const first = await getWithInterims(proxy.url, `${origin.url}/hints`);
    const second = await getWithInterims(proxy.url, `${origin.url}/hints`);

    expect(first.interims.map((i) => i.status)).toEqual([102, 103]);
    expect(first.interims[1]!.headers['link']).toBe('</style.css>; rel=preload; as=style');
    expect(first.interims[1]!.headers['x-hint']).toBe('early');
    expect(first.status).toBe(200);
    expect(first.text).toBe('final body');
    expect(first.headers['link']).toBeUndefined();
    expect(first.headers['x-hint']).toBeUndefined();
    expect(second.interims).toEqual([]);
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(second.headers['x-hint']).toBeUndefined();
    expect(origin.requestsTo('/hints')).toHaveLength(1);
  });

  it('relays at most 10 interim responses per request: an origin sending 2,000 Early Hints has the rest dropped, with one log line, and the final response intact (RFC 9110 §15.2)', async () => {
    origin.route('/flood', (_req, res) => {
      for (let i = 0; i < 2000; i++) res.writeEarlyHints({ link: `</hint-${i}.css>; rel=preload; as=style` });
      res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }).end('after the flood');
    });

    const answer = await getWithInterims(proxy.url, `${origin.url}/flood`);

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('after the flood');
    expect(answer.interims).toHaveLength(10);
    expect(answer.interims.map((i) => i.headers['link'])).toEqual(Array.from({ length: 10 }, (_, i) => `</hint-${i}.css>; rel=preload; as=style`));
    expect(proxy.logs.filter((line) => line.includes('interim responses dropped past the bound'))).toHaveLength(1);
  });

  it('sends no 1xx to an HTTP/1.0 client', async () => {
    const answer = await rawRequest(proxy.url, `GET ${origin.url}/old-client HTTP/1.0\r\nHost: x\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).not.toContain(' 103 ');
    expect(answer).toContain('final body');
  });

  it('relays interims on a pass-through too', async () => {
    const posted = await viaProxy(proxy.url, `${origin.url}/posted`, { method: 'POST', body: 'x' });
    expect(posted.status).toBe(200);
    expect(posted.headers['x-hint']).toBeUndefined();
  });
});

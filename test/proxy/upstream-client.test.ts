// What the upstream client (undici's dispatcher, src/http/upstream.ts) must do as node:http did:
// origins whose answers are slightly off but accepted by node keep working, framing errors are
// caught before the head, trailers are dropped with the body intact, and field bytes pass as sent.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

/** Scripted answers by path, written as raw bytes on a kept-alive connection. */
const ANSWERS: Record<string, (request: string) => string> = {
  // RFC 9110 §15.2.1: an interim 100 the request did not ask for; node skips it.
  '/unsolicited-continue': () => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-length: 5\r\n\r\nfinal',
  // RFC 9110 §8.6: a 304 may carry the Content-Length of the representation it stands for.
  '/revalidated': (request) =>
    /if-none-match: "v1"/i.test(request)
      ? 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncache-control: no-cache\r\ncontent-length: 11\r\n\r\n'
      : 'HTTP/1.1 200 OK\r\netag: "v1"\r\ncache-control: no-cache\r\ncontent-length: 11\r\n\r\nstored body',
  '/no-content': () => 'HTTP/1.1 204 No Content\r\ncontent-length: 2\r\nx-after: yes\r\n\r\n',
  '/trailers': () =>
    'HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n',
  '/length-twice': () => 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello',
  '/length-and-chunked': () => 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  '/latin1-bytes': () => 'HTTP/1.1 200 OK\r\ncache-control: no-store\r\nx-name: caf\xc3\xa9 \xe9\r\ncontent-length: 2\r\n\r\nok',
};

describe('the upstream client with origins that are slightly off', () => {
  let origin: net.Server;
  let base: string;
  let proxy: TestProxy;
  const seen: string[] = [];

  beforeAll(async () => {
    origin = net.createServer((socket) => {
      socket.on('error', () => {});
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        while (buffered.includes('\r\n\r\n')) {
          const end = buffered.indexOf('\r\n\r\n') + 4;
          const request = buffered.slice(0, end);
          buffered = buffered.slice(end);
          const path = request.split(' ')[1]!.replace(/^https?:\/\/[^/]+/, '');
          seen.push(path);
          const answer = ANSWERS[path];
          socket.write(Buffer.from(answer ? answer(request) : 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n', 'latin1'));
        }
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`;
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => origin.close(() => resolve()));
  });

  it('answers 200 when the origin sends a 100 Continue nobody asked for before its final response, as node does (RFC 9110 §15.2.1)', async () => {
    const first = await viaProxy(proxy.url, `${base}/unsolicited-continue`);
    const again = await viaProxy(proxy.url, `${base}/unsolicited-continue`);

    expect(first.status).toBe(200);
    expect(first.text).toBe('final');
    expect(again.status).toBe(200);
    expect(again.text).toBe('final');
  });

  it('refreshes the entry and serves its stored body when the 304 carries the Content-Length of that body (RFC 9110 §8.6, RFC 9111 §4.3.4)', async () => {
    const stored = await viaProxy(proxy.url, `${base}/revalidated`);
    const refreshed = await viaProxy(proxy.url, `${base}/revalidated`);
    const again = await viaProxy(proxy.url, `${base}/revalidated`);

    expect(stored.text).toBe('stored body');
    expect(refreshed.status).toBe(200);
    expect(refreshed.text).toBe('stored body');
    expect(refreshed.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(again.text).toBe('stored body');
    expect(again.headers['cache-status']).toMatch(/fwd-status=304/);
    expect(seen.filter((path) => path === '/revalidated')).toHaveLength(3);
  });

  it('relays a 204 that states a Content-Length as an empty 204 (RFC 9110 §15.3.5)', async () => {
    const answer = await viaProxy(proxy.url, `${base}/no-content`);

    expect(answer.status).toBe(204);
    expect(answer.body).toHaveLength(0);
    expect(answer.headers['x-after']).toBe('yes');
  });

  it('drops trailer fields and the Trailer field, and relays and stores the body whole (RFC 9110 §6.5, §7.6.1)', async () => {
    const miss = await rawRequest(proxy.url, `GET ${base}/trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n`);
    const hit = await viaProxy(proxy.url, `${base}/trailers`);

    expect(miss).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(miss).not.toMatch(/x-checksum/i);
    expect(miss).not.toMatch(/^trailer:/im);
    expect(miss.replace(/\r\n[0-9a-f]+\r\n/g, '')).toContain('hello world');
    expect(hit.text).toBe('hello world');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(hit.headers['trailer']).toBeUndefined();
  });

  it('answers 502 upstream_bad_response, before any head, to a response with Content-Length twice or with Transfer-Encoding (RFC 9112 §6.3)', async () => {
    const twice = await viaProxy(proxy.url, `${base}/length-twice`);
    const both = await viaProxy(proxy.url, `${base}/length-and-chunked`);

    expect(twice.status).toBe(502);
    expect(twice.text).toMatch(/^502 upstream_bad_response: /);
    expect(both.status).toBe(502);
    expect(both.text).toMatch(/^502 upstream_bad_response: /);
  });

  it('relays field values byte for byte, whatever bytes they hold (RFC 9110 §5.5: obs-text)', async () => {
    const answer = await rawRequest(proxy.url, `GET ${base}/latin1-bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

    expect(Buffer.from(answer, 'latin1').includes(Buffer.from('x-name: caf\xc3\xa9 \xe9\r\n', 'latin1'))).toBe(true);
  });
});

// The head of a response served from the cache, as it goes on the wire: every stored field with
// each of its values (RFC 9111 §3.1: a cache stores and forwards all end-to-end fields), exactly
// one Date, the stored body's Content-Length, and the hit's own Age, Via and Cache-Status; and
// the connection handling around it (keep-alive, HTTP/1.0, HEAD) as for any other answer.
// deliver.ts writes this head from fields built once per entry, so this pins it down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

/** The header lines of each response in a raw answer, and what follows each head. */
function parseResponses(raw: string): Array<{ statusLine: string; fields: Array<[string, string]>; rest: string }> {
  return raw
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .filter(Boolean)
    .map((response) => {
      const end = response.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = response.slice(0, end).split('\r\n');
      const fields = lines.map((line): [string, string] => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
      });
      return { statusLine: statusLine!, fields, rest: response.slice(end + 4) };
    });
}

const valuesOf = (fields: Array<[string, string]>, name: string): string[] => fields.filter(([n]) => n === name).map(([, v]) => v);

describe('the head of a cache hit on the wire', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const body = 'x'.repeat(300);

  beforeAll(async () => {
    origin = await startOrigin({
      '/fields': (_req, res) => {
        res.sendDate = false; // no Date from the origin: the hit gets one, and only one
        res.writeHead(200, [
          ['cache-control', 'max-age=600'],
          ['content-type', 'text/plain; charset=utf-8'],
          ['link', '</a.css>; rel=preload'],
          ['link', '</b.js>; rel=preload'],
          ['x-trace', 'one'],
          ['content-disposition', 'attachment; filename="report.txt"'],
          ['etag', '"f1"'],
          ['content-length', String(body.length)],
        ]);
        res.end(body);
      },
      '/dated': (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600', date: 'Tue, 01 Dec 2026 10:00:00 GMT', 'content-length': '5' });
        res.end('dated');
      },
    });
    proxy = await startProxy();
    expect((await viaProxy(proxy.url, `${origin.url}/fields`)).status).toBe(200);
    expect((await viaProxy(proxy.url, `${origin.url}/dated`)).status).toBe(200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  const request = (method: string, path: string, extra = ''): string => `${method} ${origin.url}${path} HTTP/1.1\r\nHost: ${new URL(origin.url).host}\r\n${extra}\r\n`;

  it('carries every stored field with each of its values, one Date, the body length and Age, Via, Cache-Status (RFC 9111 §3.1, §5.1)', async () => {
    const [hit] = parseResponses(await rawRequest(proxy.url, request('GET', '/fields', 'Connection: close\r\n')));

    expect(hit!.statusLine).toBe('HTTP/1.1 200 OK');
    const fields = hit!.fields;
    // Repeated lines may go out combined into one (RFC 9110 §5.3): the values and their order hold.
    expect(valuesOf(fields, 'link').join(', ')).toBe('</a.css>; rel=preload, </b.js>; rel=preload');
    expect(valuesOf(fields, 'x-trace')).toEqual(['one']);
    expect(valuesOf(fields, 'content-type')).toEqual(['text/plain; charset=utf-8']);
    expect(valuesOf(fields, 'content-disposition')).toEqual(['attachment; filename="report.txt"']);
    expect(valuesOf(fields, 'etag')).toEqual(['"f1"']);
    expect(valuesOf(fields, 'cache-control')).toEqual(['max-age=600']);
    expect(valuesOf(fields, 'date')).toHaveLength(1);
    expect(valuesOf(fields, 'content-length')).toEqual([String(body.length)]);
    expect(valuesOf(fields, 'age')).toHaveLength(1);
    expect(valuesOf(fields, 'via')).toEqual(['1.1 etag-proxy']);
    expect(valuesOf(fields, 'cache-status')).toEqual([expect.stringMatching(/^etag-proxy; hit; ttl=\d+$/)]);
    expect(valuesOf(fields, 'connection')).toEqual(['close']);
    expect(hit!.rest).toBe(body);
    expect(origin.requestsTo('/fields')).toHaveLength(1);
  });

  it("keeps the origin's Date and adds none of its own (RFC 9110 §6.6.1)", async () => {
    const [hit] = parseResponses(await rawRequest(proxy.url, request('GET', '/dated', 'Connection: close\r\n')));

    expect(valuesOf(hit!.fields, 'date')).toEqual(['Tue, 01 Dec 2026 10:00:00 GMT']);
    expect(hit!.rest).toBe('dated');
  });

  it('answers HEAD with the head alone and the next request on the same connection in full (RFC 9110 §9.3.2, RFC 9112 §9.3)', async () => {
    const raw = await rawRequest(proxy.url, request('HEAD', '/fields') + request('GET', '/dated', 'Connection: close\r\n'));
    const [head, next] = parseResponses(raw);

    expect(valuesOf(head!.fields, 'content-length')).toEqual([String(body.length)]);
    expect(valuesOf(head!.fields, 'link').join(', ')).toBe('</a.css>; rel=preload, </b.js>; rel=preload');
    expect(valuesOf(head!.fields, 'connection')).toEqual(['keep-alive']);
    expect(head!.rest).toBe('');
    expect(next!.statusLine).toBe('HTTP/1.1 200 OK');
    expect(valuesOf(next!.fields, 'cache-status')).toEqual([expect.stringMatching(/^etag-proxy; hit/)]);
    expect(next!.rest).toBe('dated');
    expect(origin.requestsTo('/dated')).toHaveLength(1);
  });

  it('closes an HTTP/1.0 connection that did not ask for keep-alive, after the whole answer (RFC 9112 §9.3)', async () => {
    const raw = await rawRequest(proxy.url, `GET ${origin.url}/fields HTTP/1.0\r\nHost: ${new URL(origin.url).host}\r\n\r\n`);
    const [hit] = parseResponses(raw);

    expect(valuesOf(hit!.fields, 'connection')).toEqual(['close']);
    expect(valuesOf(hit!.fields, 'cache-status')).toEqual([expect.stringMatching(/^etag-proxy; hit/)]);
    expect(hit!.rest).toBe(body);
  });
});

// Crawl rules apply to intercepted HTTPS pages exactly as to plain HTTP ones (issue 11 builds on
// issue 8): a no-cache page overridden for 10 minutes, and utm_* dropped from the key while the
// origin still receives the URL as sent.
import type http from 'node:http';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';

describe('crawl rules over intercepted HTTPS', () => {
  let proxyCa: TestCa;
  let originCa: TestCa;
  let origin: Origin;
  let proxy: TestProxy;
  let agent: ProxyAgent;

  const get = async (url: string) => {
    const res = await request(url, { dispatcher: agent });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers as http.IncomingHttpHeaders, text };
  };

  beforeAll(async () => {
    proxyCa = await makeTestCa('proxy-ca');
    originCa = await makeTestCa('origin-ca');
    let served = 0;
    origin = await startOrigin(
      { '/articles/a': (_req, res) => void res.writeHead(200, { 'cache-control': 'no-cache' }).end(`article #${++served}`) },
      { tls: await originCa.issue(['localhost', '127.0.0.1']) },
    );
    const rules = parseCrawlRules('rules', [
      { match: { host: 'localhost', path: '/articles/*' }, override: ['no-cache', 'no-store'], defaultTtl: '10m' },
      { match: { host: '*' }, ignoreQuery: ['utm_*'] },
    ]);
    proxy = await startProxy({ intercept: true, caDir: proxyCa.dir, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]], rules });
    agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxyCa.ca.certPem } });
  });

  afterAll(async () => {
    await agent?.close();
    await proxy?.stop();
    await origin?.close();
    proxyCa?.remove();
    originCa?.remove();
  });

  it('keeps a no-cache HTTPS page for the rule\'s 10 minutes and ignores utm_* in its key', async () => {
    const base = `https://localhost:${origin.port}/articles/a`;
    const first = await get(`${base}?utm_source=feed`);
    const second = await get(`${base}?utm_source=mail`);
    const third = await get(base);

    expect(first.text).toBe('article #1');
    expect(second.text).toBe('article #1');
    expect(third.text).toBe('article #1');
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=\d+; detail=rule-override$/);
    expect(origin.requests.map((r) => r.url)).toEqual(['/articles/a?utm_source=feed']);
  });
});

// Two intercepting proxies on one Redis (the fleet of issue 3, over HTTPS): both load the same CA
// files, so clients trust either; what one stores under the https:// URL the other serves, and
// nothing of the CA reaches Redis.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createClient } from '@redis/client';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { respond } from '../helpers/respond.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';

describe('HTTPS entries shared through Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  let proxyCa: TestCa;
  let originCa: TestCa;
  let origin: Origin;
  let a: TestProxy;
  let b: TestProxy;
  const namespace = testNamespace('https-shared');

  beforeAll(async () => {
    redis = await redisForTests();
    proxyCa = await makeTestCa('shared-proxy-ca');
    originCa = await makeTestCa('shared-origin-ca');
    origin = await startOrigin({}, { tls: await originCa.issue(['localhost']) });
    const config = { store: redis.url, namespace, intercept: true, caDir: proxyCa.dir, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]] as Array<[number, number]> };
    a = await startProxy(config);
    b = await startProxy(config);
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await origin?.close();
    await cleanNamespace(redis.url, namespace);
    await redis?.stop();
    proxyCa?.remove();
    originCa?.remove();
  });

  async function get(proxy: TestProxy, url: string) {
    const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxyCa.ca.certPem } });
    try {
      const res = await request(url, { dispatcher: agent });
      return { status: res.statusCode, headers: res.headers as http.IncomingHttpHeaders, text: await res.body.text() };
    } finally {
      await agent.close();
    }
  }

  it('serves through B, with no origin request, an HTTPS response cached through A', async () => {
    const path = `/shared-${randomBytes(4).toString('hex')}`;
    origin.route(path, respond(200, { 'cache-control': 'max-age=60', etag: '"tls1"', 'content-type': 'text/plain' }, 'one copy for the fleet'));
    const url = `https://localhost:${origin.port}${path}`;

    const first = await get(a, url);
    const second = await get(b, url);

    expect(first.headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(second.status).toBe(200);
    expect(second.text).toBe('one copy for the fleet');
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo(path)).toHaveLength(1);

    // Invariant 4: the CA key never reaches the store.
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const keys = (await client.keys(`${namespace}:*`)) as string[];
      expect(keys.length).toBeGreaterThan(0);
      const values = await Promise.all(keys.map((key) => client.get(key).catch(() => '')));
      expect(values.join('')).not.toContain('PRIVATE KEY');
    } finally {
      client.destroy();
    }
  });
});

// Parent proxies, step two: everything that is not a plain http:// request goes through a tunnel
// to the parent. Intercepted https:// requests (TLS to the origin inside a CONNECT to the
// parent, verified as direct), passthrough CONNECT tunnels and WebSocket upgrades through a
// real proxy-chain parent; an https:// parent (TLS to the parent, verified with --upstream-ca);
// SOCKS5 parents from a real SOCKS5 server, with the name resolved by the parent (socks5h) or
// here (socks5).
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { ProxyAgent, request } from 'undici';
import { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { emptyParents, parseParents, type ParentsConfig } from '../../src/parents/config.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startParent, type TestParent } from '../helpers/parent.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';
import { startSocksServer, type TestSocksServer } from '../helpers/socks-server.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';
import { httpsThroughTunnel } from '../helpers/tunnel-client.js';

const USER = 'pool-user';
const PASSWORD = 'tunnel-s3cret-pw';

function pool(urls: string[]): ParentsConfig {
  return parseParents('parents', { pools: { paid: { parents: urls } } }, emptyParents());
}
const withAuth = (url: string) => url.replace('://', `://${USER}:${PASSWORD}@`);

let proxyCa: TestCa;
let originCa: TestCa;
let httpsOrigin: Origin;
const cleanups: Array<() => Promise<unknown> | void> = [];

beforeAll(async () => {
  proxyCa = await makeTestCa('parents-proxy-ca');
  originCa = await makeTestCa('parents-origin-ca');
  httpsOrigin = await startOrigin(
    {
      '/secure': respond(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, 'secure page'),
    },
    { tls: await originCa.issue(['localhost', '127.0.0.1']) },
  );
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await httpsOrigin?.close();
  proxyCa?.remove();
  originCa?.remove();
});

async function parent(options: Parameters<typeof startParent>[0] = { user: USER, password: PASSWORD }): Promise<TestParent> {
  const started = await startParent(options);
  cleanups.push(() => started.close());
  return started;
}
async function proxyWith(parents: ParentsConfig, extra: Parameters<typeof startProxy>[0] = {}): Promise<TestProxy> {
  const proxy = await startProxy({ parents, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]], ...extra });
  cleanups.push(() => proxy.stop());
  return proxy;
}

describe('tunnels through a parent proxy', () => {
  it('fetches an intercepted https:// page through a CONNECT to the parent, TLS to the origin inside, and serves the second from the cache', async () => {
    const chain = await parent();
    const proxy = await proxyWith(pool([withAuth(chain.url)]), { intercept: true, caDir: proxyCa.dir });
    const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxyCa.ca.certPem }, token: `Basic ${Buffer.from('scraper:client-pw').toString('base64')}` });
    cleanups.push(() => agent.close());
    const url = `https://localhost:${httpsOrigin.port}/secure`;
    const before = httpsOrigin.requests.length;

    for (let i = 0; i < 2; i++) {
      const res = await request(url, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('secure page');
    }

    expect(httpsOrigin.requests.length - before).toBe(1);
    expect(chain.requests).toHaveLength(1);
    expect(chain.requests[0]).toMatchObject({ method: 'CONNECT', isHttp: false, hostname: 'localhost', username: USER, password: PASSWORD });
    expect(httpsOrigin.requests.at(-1)!.headers['proxy-authorization']).toBeUndefined();
  });

  it('applies the session header of the CONNECT to the intercepted requests inside it (an inner header wins), and sends it to neither parent nor origin', async () => {
    const chain = await parent({});
    const templated = parseParents('parents', { pools: { resi: { parents: [chain.url], username: 'user-session-{session}', passwordEnv: 'TEST_PARENT_PW' } } }, emptyParents(), { TEST_PARENT_PW: PASSWORD });
    const proxy = await proxyWith(templated, { intercept: true, caDir: proxyCa.dir });
    httpsOrigin.route('/in-session', respond(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }, 'in session'));
    const url = `https://localhost:${httpsOrigin.port}/in-session`;
    const before = httpsOrigin.requests.length;

    const inherited = await httpsThroughTunnel(proxy.url, url, { ca: proxyCa.ca.certPem, servername: 'localhost', connectHeaders: { 'X-Proxy-Session': 'tunnel7' } });
    const overridden = await httpsThroughTunnel(proxy.url, url, { ca: proxyCa.ca.certPem, servername: 'localhost', connectHeaders: { 'X-Proxy-Session': 'tunnel7' }, headers: { 'X-Proxy-Session': 'inner9' } });

    expect([inherited.status, inherited.text, overridden.status, overridden.text]).toEqual([200, 'in session', 200, 'in session']);
    expect(chain.requests.map((r) => [r.method, r.username, r.password])).toEqual([
      ['CONNECT', 'user-session-tunnel7', PASSWORD],
      ['CONNECT', 'user-session-inner9', PASSWORD],
    ]);
    expect(chain.requests.every((r) => r.headers['x-proxy-session'] === undefined)).toBe(true);
    const atOrigin = httpsOrigin.requests.slice(before);
    expect(atOrigin.map((r) => r.url)).toEqual(['/in-session', '/in-session']);
    expect(atOrigin.every((r) => r.headers['x-proxy-session'] === undefined)).toBe(true);
  });

  it('relays a passthrough CONNECT through a CONNECT to the parent', async () => {
    const chain = await parent();
    const proxy = await proxyWith(pool([withAuth(chain.url)]));
    const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: originCa.ca.certPem } });
    cleanups.push(() => agent.close());
    const before = httpsOrigin.requests.length;

    const res = await request(`https://localhost:${httpsOrigin.port}/secure`, { dispatcher: agent });

    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('secure page');
    expect(httpsOrigin.requests.length - before).toBe(1);
    expect(chain.requests).toEqual([expect.objectContaining({ method: 'CONNECT', url: `localhost:${httpsOrigin.port}`, username: USER, password: PASSWORD })]);
    expect(proxy.logs.join('\n')).not.toContain(PASSWORD);
  });

  it('relays a WebSocket upgrade through a CONNECT to the parent', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, path: '/echo' });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo: ${String(data)}`)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as net.AddressInfo).port;
    const chain = await parent();
    const proxy = await proxyWith(pool([withAuth(chain.url)]));

    const client = net.connect(proxy.port, '127.0.0.1');
    await once(client, 'connect');
    const key = randomBytes(16).toString('base64');
    client.write(`GET http://127.0.0.1:${port}/echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let received = Buffer.alloc(0);
    while (!received.includes('\r\n\r\n')) received = Buffer.concat([received, (await once(client, 'data'))[0] as Buffer]);
    const end = received.indexOf('\r\n\r\n') + 4;
    expect(received.subarray(0, end).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    expect(received.toString('latin1').toLowerCase()).toContain(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64').toLowerCase());
    const mask = randomBytes(4);
    const payload = Buffer.from('hi');
    client.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
    let frame = received.subarray(end);
    while (frame.length < 2 || frame.length < 2 + (frame[1]! & 0x7f)) frame = Buffer.concat([frame, (await once(client, 'data'))[0] as Buffer]);
    client.destroy();

    expect(frame.subarray(2, 2 + (frame[1]! & 0x7f)).toString()).toBe('echo: hi');
    expect(chain.requests.filter((r) => r.method === 'CONNECT' && r.url === `127.0.0.1:${port}`)).toHaveLength(1);
  });

  it('speaks TLS to an https:// parent, verified against --upstream-ca, and 502s naming the parent when it is not trusted', async () => {
    const origin = await startOrigin({ '/plain': respond(200, { 'cache-control': 'no-store' }, 'via a TLS parent') });
    cleanups.push(() => origin.close());
    const chain = await parent({ user: USER, password: PASSWORD, https: await originCa.issue(['127.0.0.1']) });
    const trusted = await proxyWith(pool([withAuth(chain.url)]));

    const res = await viaProxy(trusted.url, `${origin.url}/plain`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('via a TLS parent');
    expect(chain.requests).toEqual([expect.objectContaining({ isHttp: true, url: `${origin.url}/plain`, username: USER, password: PASSWORD })]);

    const untrusting = await startProxy({ parents: pool([withAuth(chain.url)]) });
    cleanups.push(() => untrusting.stop());
    const refused = await viaProxy(untrusting.url, `${origin.url}/plain`);
    expect(refused.status).toBe(502);
    expect(refused.text).toContain(chain.url);
    expect(refused.text).not.toContain(PASSWORD);
    expect(chain.requests).toHaveLength(1);
  });
});

describe('SOCKS5 parents', () => {
  let socksServer: TestSocksServer;
  let origin: Origin;
  beforeAll(async () => {
    origin = await startOrigin({ '/page': respond(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, 'over socks') });
    socksServer = await startSocksServer({ user: USER, password: PASSWORD, names: { 'origin.test': '127.0.0.1' } });
  });
  afterAll(async () => {
    await socksServer?.close();
    await origin?.close();
  });

  it('socks5h: the parent resolves the name (origin.test resolves nowhere but at the parent)', async () => {
    const proxy = await proxyWith(pool([withAuth(`socks5h://${socksServer.url}`)]));
    const before = origin.requests.length;

    const first = await viaProxy(proxy.url, `http://origin.test:${origin.port}/page`);
    const second = await viaProxy(proxy.url, `http://origin.test:${origin.port}/page`);

    expect(first.status).toBe(200);
    expect(first.text).toBe('over socks');
    expect(second.headers['cache-status']).toMatch(/hit/);
    expect(origin.requests.length - before).toBe(1);
    expect(origin.requests.at(-1)!.headers['host']).toBe(`origin.test:${origin.port}`);
    expect(socksServer.destinations).toContain(`origin.test:${origin.port}`);
  });

  it('socks5: the name is resolved here and the parent is given the address; https:// origins get TLS inside', async () => {
    const proxy = await proxyWith(pool([withAuth(`socks5://${socksServer.url}`)]), { intercept: true, caDir: proxyCa.dir });
    const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxyCa.ca.certPem } });
    cleanups.push(() => agent.close());

    const res = await request(`https://localhost:${httpsOrigin.port}/secure`, { dispatcher: agent });

    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('secure page');
    expect(socksServer.destinations.at(-1)).toMatch(new RegExp(`^(127\\.0\\.0\\.1|::1):${httpsOrigin.port}$`));
  });

  it('a SOCKS5 parent that refuses the credentials gives a 502 naming the parent, not the password', async () => {
    const proxy = await proxyWith(pool([`socks5h://${USER}:wrong-${PASSWORD}@${socksServer.url}`]));
    const res = await viaProxy(proxy.url, `http://origin.test:${origin.port}/other`);
    expect(res.status).toBe(502);
    expect(res.text).toContain(`socks5h://${socksServer.url}`);
    expect(res.text).not.toContain(PASSWORD);
  });
});

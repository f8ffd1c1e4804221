// Invariant 3 (STYLE.md): no request or tunnel reaches this process's own listeners, or a
// destination the deployment forbids, through the proxy. Squid's defaults are the anchor:
// CONNECT only to allowed ports, and no relay into local services from beyond loopback.
import { once } from 'node:events';
import net from 'node:net';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { createProxy, defaultConfig } from '../../src/index.js';
import { createLogger, silentLogger } from '../../src/observe/log.js';
import { parseCidr } from '../../src/guard/address-ranges.js';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';
import { makeTestCa } from '../helpers/tls.js';
import { openTunnel } from '../helpers/tunnel-client.js';

/** Send a CONNECT and return the proxy's response head (the socket is closed afterwards). */
async function connectHead(proxyPort: number, target: string): Promise<string> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  let received = '';
  while (!received.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received += chunk.toString('latin1');
  }
  socket.destroy();
  return received;
}

describe('the proxy never forwards to its own listeners', () => {
  let proxy: TestProxy;
  let admin: AdminServer;
  let adminPort: number;

  beforeAll(async () => {
    proxy = await startProxy({ connectPorts: [[1, 65535]] });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    adminPort = Number(new URL(admin.url).port);
  });

  afterAll(async () => {
    await admin?.close();
    await proxy?.stop();
  });

  const forms = (port: number) => [
    `127.0.0.1:${port}`,
    `localhost:${port}`,
    `127.1:${port}`,
    `2130706433:${port}`,
    `0x7f000001:${port}`,
    `[::1]:${port}`,
    `[::ffff:127.0.0.1]:${port}`,
    `0.0.0.0:${port}`,
  ];

  it('answers GET and PUT to the admin API sent through the proxy with 403, by every address form, and the policies stay as they were', async () => {
    for (const authority of forms(adminPort)) {
      const got = await viaProxy(proxy.url, `http://${authority}/policies`);
      expect(got.status, authority).toBe(403);
      expect(got.text, authority).toMatch(/destination_forbidden: .*own listener|not a page of this proxy/);
    }
    const put = await viaProxy(proxy.url, `http://127.0.0.1:${adminPort}/policies/default`, { method: 'PUT', body: '{"validators":"strip"}' });
    expect(put.status).toBe(403);
    expect(proxy.proxy.policies.resolve('anyone', 'example.com').validators).toBe('pass');
  });

  it('answers a request for the proxy port itself locally (help page or 404), never forwarding it in a loop', async () => {
    for (const authority of forms(proxy.port)) {
      const got = await viaProxy(proxy.url, `http://${authority}/`);
      expect([200, 403], authority).toContain(got.status);
      if (got.status === 200) expect(got.text).toMatch(/^etag-proxy: a forward caching HTTP proxy/);
    }
  });

  it('refuses a CONNECT to the admin port or the proxy port with 403, by every address form', async () => {
    for (const authority of [...forms(adminPort), ...forms(proxy.port)]) {
      const head = await connectHead(proxy.port, authority);
      expect(head, authority).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    }
  });
});

describe('the proxy never answers 200 to a CONNECT to its own listeners when intercepting (--intercept answers before connecting)', () => {
  it('refuses a CONNECT to the admin port or the proxy port with 403 by name (localhost) as by address, and opens no tunnel', async () => {
    const ca = await makeTestCa('own-listeners');
    const proxy = await startProxy({ intercept: true, caDir: ca.dir, connectPorts: [[1, 65535]] });
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    const adminPort = Number(new URL(admin.url).port);
    try {
      for (const authority of [`localhost:${adminPort}`, `localhost:${proxy.port}`, `127.0.0.1:${adminPort}`, `[::1]:${adminPort}`]) {
        const head = await connectHead(proxy.port, authority);
        expect(head, authority).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
        expect(head, authority).toContain("is this proxy's own listener");
      }
    } finally {
      await admin.close();
      await proxy.stop();
      ca.remove();
    }
  });
});

describe('CONNECT ports (--connect-ports, default 443,80)', () => {
  let proxy: TestProxy;
  let echo: net.Server;
  let echoPort: number;

  beforeAll(async () => {
    echo = net.createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('keeps the list for byte-for-byte tunnels: a CONNECT to another port gets its 200, then is closed at its first bytes that are not HTTP, with no connection to the target and one line naming the port and the flag', async () => {
    let connections = 0;
    echo.on('connection', () => connections++);
    const { socket, head } = await openTunnel(proxy.url, `127.0.0.1:${echoPort}`);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    socket.write('\x00\x01SSH-2.0-blind\r\n');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await once(socket, 'close');

    expect(Buffer.concat(received).length).toBe(0);
    expect(connections).toBe(0);
    const line = proxy.logs.find((l) => l.includes(`"tunnel":"127.0.0.1:${echoPort}"`) && l.includes('"status":403'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', method: 'CONNECT', error: 'destination_forbidden', closed: 'after 200' });
    expect(line).toContain(`a tunnel to port ${echoPort} that is not HTTP is not allowed (--connect-ports 443,80)`);
  });

  it('serves undici\'s ProxyAgent (Node\'s fetch through a proxy) fetching http:// on a port outside the list: HTTP inside a tunnel is parsed, not relayed', async () => {
    const origin = await startOrigin({ '/nine-thousand': respond(200, { 'cache-control': 'max-age=60', etag: '"p9"' }, 'not port 80') });
    const agent = new ProxyAgent({ uri: proxy.url });
    try {
      const url = `http://127.0.0.1:${origin.port}/nine-thousand`;
      const first = await undiciFetch(url, { dispatcher: agent });
      const second = await undiciFetch(url, { dispatcher: agent });

      expect(first.status).toBe(200);
      expect(await first.text()).toBe('not port 80');
      expect(second.headers.get('cache-status')).toMatch(/^etag-proxy; hit/);
      expect(await second.text()).toBe('not port 80');
      expect(origin.requestsTo('/nine-thousand')).toHaveLength(1);
    } finally {
      await agent.close();
      await origin.close();
    }
  });

  it('refuses with 403, before any 200, a tunnel to such a port whose name is this proxy\'s own listener or a restricted destination', async () => {
    const restricted = await startProxy({ restrictDestinations: 'yes' });
    try {
      expect(await connectHead(proxy.port, `localhost:${proxy.port}`)).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[^]*own listener/);
      expect(await connectHead(restricted.port, `localhost:${echoPort}`)).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[^]*loopback address/);
      expect(await connectHead(proxy.port, `no-such-host.invalid:${echoPort}`)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n[^]*upstream_unknown_host/);
    } finally {
      await restricted.stop();
    }
  });

  it('answers a failed CONNECT with the standard reason phrase and the code in the body', async () => {
    const refused = await startProxy({ connectPorts: [[1, 65535]] });
    try {
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const head = await rawRequest(refused.url, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(head).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(head).toContain('502 upstream_refused: the origin refused the connection');
    } finally {
      await refused.stop();
    }
  });
});

describe('destinations in loopback, private and link-local ranges (--restrict-destinations, --allow-destinations)', () => {
  let origin: Origin;

  beforeAll(async () => {
    origin = await startOrigin({ '/page': respond(200, { 'cache-control': 'max-age=60' }, 'local service') });
  });

  afterAll(async () => {
    await origin?.close();
  });

  it('refuses loopback destinations with 403 when restricted, by address and by a name that resolves to loopback, without contacting them', async () => {
    const proxy = await startProxy({ restrictDestinations: 'yes', connectPorts: [[1, 65535]] });
    const before = origin.requests.length; // the allow-destinations test reaches this origin, in any order
    try {
      const byAddress = await viaProxy(proxy.url, `${origin.url}/page`);
      const byName = await viaProxy(proxy.url, `http://localhost:${origin.port}/page`);
      const metadata = await viaProxy(proxy.url, 'http://169.254.169.254/latest/meta-data/');
      const tunnel = await connectHead(proxy.port, `localhost:${origin.port}`);
      expect(byAddress.status).toBe(403);
      expect(byAddress.text).toMatch(/^403 destination_forbidden: 127\.0\.0\.1:\d+ is a loopback address; list it in --allow-destinations/);
      expect(byName.status).toBe(403);
      expect(metadata.status).toBe(403);
      expect(metadata.text).toMatch(/link-local/);
      expect(tunnel).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(origin.requests).toHaveLength(before);
    } finally {
      await proxy.stop();
    }
  });

  it('reaches a destination listed in --allow-destinations', async () => {
    const proxy = await startProxy({ restrictDestinations: 'yes', allowDestinations: [parseCidr('127.0.0.0/8')!] });
    try {
      const got = await viaProxy(proxy.url, `${origin.url}/page`);
      expect(got.status).toBe(200);
      expect(got.text).toBe('local service');
    } finally {
      await proxy.stop();
    }
  });

  it('restricts on its own once it listens beyond loopback (auto), and warns when neither --allow nor --require-auth is set', async () => {
    const lines: string[] = [];
    const wide = await createProxy(defaultConfig({ port: 0 }), { logger: createLogger('warn', (line) => void lines.push(line)) });
    // Listening on the unspecified address switches the guard on; the test's traffic stays on loopback.
    const address = await wide.listen(0, '0.0.0.0');
    const before = origin.requestsTo('/page').length;
    try {
      const got = await viaProxy(`http://127.0.0.1:${address.port}`, `${origin.url}/page`);
      expect(got.status).toBe(403);
      expect(got.text).toMatch(/loopback address/);
      expect(lines.join('')).toMatch(/listening beyond loopback with neither --allow nor --require-auth/);
      expect(origin.requestsTo('/page')).toHaveLength(before);
    } finally {
      await wide.close();
    }
  });
});

describe('client addresses (--allow)', () => {
  it('answers 403 to clients outside --allow, for requests and CONNECT, and serves those inside', async () => {
    const origin = await startOrigin({ '/x': respond(200, {}, 'ok') });
    const closed = await startProxy({ allowClients: [parseCidr('10.0.0.0/8')!] });
    const open = await startProxy({ allowClients: [parseCidr('127.0.0.0/8')!] });
    try {
      const refused = await viaProxy(closed.url, `${origin.url}/x`);
      const tunnel = await connectHead(closed.port, 'example.com:443');
      const served = await viaProxy(open.url, `${origin.url}/x`);
      expect(refused.status).toBe(403);
      expect(refused.text).toBe('403 client_forbidden: client address 127.0.0.1 is not in --allow\n');
      expect(tunnel).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(served.text).toBe('ok');
      expect(origin.requestsTo('/x')).toHaveLength(1);
    } finally {
      await closed.stop();
      await open.stop();
      await origin.close();
    }
  });
});

// CONNECT (RFC 9110 §9.3.6): the proxy opens a TCP connection to host:port, answers 200 and
// then copies bytes both ways unchanged; a target it cannot reach is a 502.
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/client.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort } from '../helpers/respond.js';

/** Open a tunnel through the proxy; resolve with the socket and the proxy's response head. */
async function openTunnel(proxyPort: number, target: string): Promise<{ socket: net.Socket; head: string; rest: Buffer }> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  let received: Buffer = Buffer.alloc(0);
  while (!received.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
  }
  const end = received.indexOf('\r\n\r\n') + 4;
  return { socket, head: received.subarray(0, end).toString('latin1'), rest: received.subarray(end) };
}

/** Read from `socket` until `length` bytes have arrived (after `initial`). */
async function readBytes(socket: net.Socket, length: number, initial: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  let received: Buffer = initial;
  while (received.length < length) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
  }
  return received;
}

describe('CONNECT tunnels (RFC 9110 §9.3.6)', () => {
  let proxy: TestProxy;
  let echo: net.Server;
  let echoPort: number;
  let echoConnections = 0;

  beforeAll(async () => {
    // Greets first (server → client), then echoes every byte back (client → server → client).
    echo = net.createServer((socket) => {
      echoConnections++;
      socket.write('hello from the echo server\n');
      socket.pipe(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
    proxy = await startProxy({ connectPorts: [[1, 65535]] }); // the echo server listens on a free port, not 443
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('answers 200 and tunnels bytes both ways, unchanged, to a TCP server on 127.0.0.1', async () => {
    const before = echoConnections;
    const { socket, head, rest } = await openTunnel(proxy.port, `127.0.0.1:${echoPort}`);

    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    const greeting = 'hello from the echo server\n';
    const greeted = await readBytes(socket, greeting.length, rest);
    expect(greeted.toString()).toBe(greeting);

    const payload = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) % 256));
    socket.write(payload);
    const echoed = await readBytes(socket, payload.length);
    expect(echoed.equals(payload)).toBe(true);
    expect(echoConnections).toBe(before + 1);

    socket.destroy();
  });

  it('forwards bytes the client sent right after the CONNECT head, before the 200 arrived', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\nearly bytes`);

    const expected = 'hello from the echo server\nearly bytes';
    let all: Buffer = Buffer.alloc(0);
    while (!all.toString('latin1').endsWith(expected)) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      all = Buffer.concat([all, chunk]);
    }

    expect(all.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nhello from the echo server\nearly bytes$/);
    socket.destroy();
  });

  it('closes the client side of the tunnel when the server closes its side', async () => {
    const closer = net.createServer((socket) => socket.end('bye'));
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
    const { port } = closer.address() as net.AddressInfo;

    const answer = await rawRequest(proxy.url, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, 2000);

    expect(answer).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nbye$/);
    await new Promise<void>((resolve) => closer.close(() => resolve()));
  });

  it('answers 502 with a short text body when the target port refuses the connection', async () => {
    const port = await closedPort();

    const answer = await rawRequest(proxy.url, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);

    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toMatch(/\r\n\r\n502 upstream_refused: [^\n]*\n$/);
  });

  it('closes a tunnel in which neither side says anything within --headers-timeout (one 408 line), and keeps one whose server spoke first', async () => {
    const silentServer = net.createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
    const silentPort = (silentServer.address() as net.AddressInfo).port;
    const quick = await startProxy({ connectPorts: [[1, 65535]], headersTimeoutMs: 300 });
    try {
      const idle = await openTunnel(quick.port, `127.0.0.1:${silentPort}`);
      const greeted = await openTunnel(quick.port, `127.0.0.1:${echoPort}`);
      const idleClosed = new Promise<void>((resolve) => idle.socket.once('close', () => resolve()));
      await readBytes(greeted.socket, 'hello from the echo server\n'.length, greeted.rest);
      await idleClosed;
      await new Promise((resolve) => setTimeout(resolve, 300));

      expect(idle.head).toMatch(/^HTTP\/1\.1 200 /);
      expect(greeted.socket.destroyed).toBe(false);
      greeted.socket.write('still relayed');
      expect((await readBytes(greeted.socket, 'still relayed'.length)).toString()).toBe('still relayed');
      const timeouts = quick.logs.filter((line) => line.includes('"error":"request_timeout"'));
      expect(timeouts).toHaveLength(1);
      expect(timeouts[0]).toContain(`"tunnel":"127.0.0.1:${silentPort}"`);
      greeted.socket.destroy();
    } finally {
      await quick.stop();
      await new Promise<void>((resolve) => silentServer.close(() => resolve()));
    }
  });

  it('answers 400 to a CONNECT whose target is not host:port (RFC 9112 §3.2.3)', async () => {
    const answer = await rawRequest(proxy.url, 'CONNECT 127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');

    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
});

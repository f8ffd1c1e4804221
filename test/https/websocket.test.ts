// Upgrade requests (RFC 9110 §7.8) through all three paths: absolute-form over a plain proxy
// connection, origin-form inside a plain-HTTP CONNECT tunnel, and inside TLS interception.
// After the origin's 101 the proxy relays a two-way byte stream (RFC 6455 frames here, from a
// `ws` echo server); nothing of it is cached.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';
import { openTunnel } from '../helpers/tunnel-client.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Read until `predicate` holds for everything read so far. */
async function readUntil(socket: Duplex, predicate: (bytes: Buffer) => boolean): Promise<Buffer> {
  let bytes = Buffer.alloc(0);
  while (!predicate(bytes)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    bytes = Buffer.concat([bytes, chunk]);
  }
  return bytes;
}

/** The opening handshake (RFC 6455 §4.1), one masked text frame out, one frame back. */
async function echoOnce(socket: Duplex, target: string, host: string, message: string): Promise<{ head: string; reply: string }> {
  const key = randomBytes(16).toString('base64');
  socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const received = await readUntil(socket, (bytes) => bytes.includes('\r\n\r\n'));
  const end = received.indexOf('\r\n\r\n') + 4;
  const head = received.subarray(0, end).toString('latin1');
  if (!head.startsWith('HTTP/1.1 101')) return { head, reply: '' };
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  expect(head.toLowerCase()).toContain(`sec-websocket-accept: ${accept.toLowerCase()}`);

  const payload = Buffer.from(message);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  const frame = await readUntil(socket, (bytes) => bytes.length >= 2 && bytes.length >= 2 + (bytes[1]! & 0x7f));
  const rest = Buffer.concat([received.subarray(end), frame]);
  expect(rest[0]).toBe(0x81);
  return { head, reply: rest.subarray(2, 2 + (rest[1]! & 0x7f)).toString() };
}

describe('WebSocket through the proxy', () => {
  let originCa: TestCa;
  let proxyCa: TestCa;
  let plain: http.Server;
  let secure: https.Server;
  let plainPort: number;
  let securePort: number;
  let proxy: TestProxy;
  const upgrades: string[] = [];

  beforeAll(async () => {
    originCa = await makeTestCa('ws-origin-ca');
    proxyCa = await makeTestCa('ws-proxy-ca');
    const echo = (server: http.Server, scheme: string) => {
      const wss = new WebSocketServer({ server, path: '/echo' });
      wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${scheme} echo: ${String(data)}`)));
      server.on('upgrade', (req: http.IncomingMessage) => upgrades.push(`${scheme} ${req.url}`));
    };
    plain = http.createServer();
    secure = https.createServer(await originCa.issue(['localhost', '127.0.0.1']));
    echo(plain, 'http');
    echo(secure, 'https');
    plain.listen(0, '127.0.0.1');
    secure.listen(0, '127.0.0.1');
    await Promise.all([once(plain, 'listening'), once(secure, 'listening')]);
    plainPort = (plain.address() as net.AddressInfo).port;
    securePort = (secure.address() as net.AddressInfo).port;
    proxy = await startProxy({ intercept: true, caDir: proxyCa.dir, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]] });
  });

  afterAll(async () => {
    await proxy?.stop();
    plain?.closeAllConnections();
    secure?.closeAllConnections();
    plain?.close();
    secure?.close();
    originCa?.remove();
    proxyCa?.remove();
  });

  it('relays an absolute-form upgrade over a plain proxy connection, after the origin\'s 101, twice with two origin upgrades (never cached)', async () => {
    const upgradesBefore = upgrades.length; // the tunnel test upgrades on the same origin, in any order
    for (const round of [1, 2]) {
      const socket = net.connect(new URL(proxy.url).port as unknown as number, '127.0.0.1');
      await once(socket, 'connect');
      const { head, reply } = await echoOnce(socket, `http://127.0.0.1:${plainPort}/echo`, `127.0.0.1:${plainPort}`, `hello ${round}`);
      socket.destroy();

      expect(head).toMatch(/^HTTP\/1\.1 101 /);
      expect(reply).toBe(`http echo: hello ${round}`);
    }
    expect(upgrades.slice(upgradesBefore)).toEqual(['http /echo', 'http /echo']);
  });

  it('relays an upgrade inside a plain-HTTP CONNECT tunnel', async () => {
    const { socket, head: connectHead } = await openTunnel(proxy.url, `127.0.0.1:${plainPort}`);
    expect(connectHead).toMatch(/^HTTP\/1\.1 200 /);

    const { head, reply } = await echoOnce(socket, '/echo', `127.0.0.1:${plainPort}`, 'through a tunnel');
    socket.destroy();

    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(reply).toBe('http echo: through a tunnel');
  });

  it('relays an upgrade inside TLS interception (wss:// to the origin)', async () => {
    const { socket } = await openTunnel(proxy.url, `localhost:${securePort}`);
    const decrypted = tls.connect({ socket, host: 'localhost', servername: 'localhost', ca: proxyCa.ca.certPem });
    await once(decrypted, 'secureConnect');

    const { head, reply } = await echoOnce(decrypted, '/echo', `localhost:${securePort}`, 'through interception');
    decrypted.destroy();

    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(reply).toBe('https echo: through interception');
    expect(upgrades).toContain('https /echo');
  });

  it('relays the origin\'s answer, then closes, when the origin declines the upgrade', async () => {
    // A server with no upgrade handler answers the request as if Upgrade were not there.
    const decliner = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('no upgrade here\n'));
    decliner.listen(0, '127.0.0.1');
    await once(decliner, 'listening');
    const declinerPort = (decliner.address() as net.AddressInfo).port;
    const socket = net.connect(new URL(proxy.url).port as unknown as number, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(`GET http://127.0.0.1:${declinerPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${declinerPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await once(socket, 'close');
    const answer = Buffer.concat(chunks).toString('latin1');
    decliner.close();

    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(answer.toLowerCase()).not.toContain('transfer-encoding');
    expect(answer.endsWith('\r\n\r\nno upgrade here\n')).toBe(true);
  });
});

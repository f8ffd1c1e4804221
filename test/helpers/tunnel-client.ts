// HTTPS through the proxy as a client does it by hand: CONNECT, then TLS over the tunnel (with
// or without SNI, trusting the given CA), then HTTP/1.1 on the decrypted stream. Returns the
// response and the certificate the client was shown, so tests can check whose it was.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { ProxiedResponse } from './client.js';

/** CONNECT `authority` through the proxy; resolves with the socket once the head is read. */
export async function openTunnel(proxyUrl: string, authority: string, headers: Record<string, string> = {}): Promise<{ socket: net.Socket; head: string }> {
  const proxy = new URL(proxyUrl);
  const socket = net.connect(Number(proxy.port), proxy.hostname);
  await once(socket, 'connect');
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extra}\r\n`);
  let received = Buffer.alloc(0);
  while (!received.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
  }
  const end = received.indexOf('\r\n\r\n') + 4;
  if (end < received.length) socket.unshift(received.subarray(end));
  return { socket, head: received.subarray(0, end).toString('latin1') };
}

export interface TunnelledResponse extends ProxiedResponse {
  peerCertificate: tls.PeerCertificate;
  alpn: string | false | null;
}

export async function httpsThroughTunnel(
  proxyUrl: string,
  target: string,
  options: { ca: string | string[]; servername?: string; headers?: Record<string, string>; connectHeaders?: Record<string, string>; alpn?: string[] },
): Promise<TunnelledResponse> {
  const url = new URL(target);
  const port = url.port || '443';
  const { socket, head } = await openTunnel(proxyUrl, `${url.hostname}:${port}`, options.connectHeaders);
  if (!/^HTTP\/1\.1 200 /.test(head)) {
    socket.destroy();
    throw new Error(`CONNECT refused: ${head.split('\r\n')[0]}`);
  }
  // `host` is what the certificate is checked against; SNI is sent only when `servername` is given.
  const secure = tls.connect({ socket, host: url.hostname, servername: options.servername ?? '', ca: options.ca, ALPNProtocols: options.alpn ?? ['http/1.1'] });
  try {
    await once(secure, 'secureConnect');
  } catch (error) {
    socket.destroy();
    throw error;
  }
  const peerCertificate = secure.getPeerCertificate();
  const alpn = secure.alpnProtocol;
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => secure, method: 'GET', path: `${url.pathname}${url.search}`, headers: { host: url.host, ...options.headers } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        secure.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), peerCertificate, alpn });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

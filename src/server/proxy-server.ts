// The node:http listener: 'request' runs the pipeline, 'connect' opens a tunnel (whose HTTP or
// intercepted TLS contents come back here as connections of their own), 'upgrade' relays
// WebSocket and other upgrades, and 'clientError' answers malformed requests with 400 (431 for
// oversized heads) and a log line.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyContext } from '../pipeline/context.js';
import { handleConnect } from '../pipeline/pipe.js';
import { runRequest } from '../pipeline/run.js';
import { handleUpgrade } from '../pipeline/upgrade.js';
import type { Interceptor } from '../tls/interceptor.js';
import { absoluteTarget, TunnelContents } from './tunnel-contents.js';

const CLIENT_ERROR_STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

export function createProxyServer(ctx: ProxyContext, interceptor?: Interceptor): http.Server {
  const server = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 });
  const inside = new TunnelContents(server, interceptor);
  server.on('request', (clientReq: http.IncomingMessage, clientRes: http.ServerResponse) => {
    // Inside a tunnel, `GET /path` means the tunnel's origin: the pipeline sees an absolute target.
    clientReq.url = absoluteTarget(clientReq);
    void runRequest(ctx, clientReq, clientRes);
  });
  server.on('connect', (clientReq: http.IncomingMessage, socket: Duplex, head: Buffer) => handleConnect(ctx, clientReq, socket, head, inside));
  server.on('upgrade', (clientReq: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    clientReq.url = absoluteTarget(clientReq);
    handleUpgrade(ctx, clientReq, socket, head);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code ?? 'HPE_INVALID';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] = CLIENT_ERROR_STATUS[code] ?? [400, 'Bad Request'];
    const body = `${status} bad_request: malformed HTTP request (${code})\n`;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    ctx.logger.warn('request', { status, error: 'bad_request', detail: code });
  });
  return server;
}

export function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

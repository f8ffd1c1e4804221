// The node:http listener: 'request' runs the pipeline, 'connect' opens a tunnel (whose HTTP or
// intercepted TLS contents come back here as connections of their own, tunnel-contents.ts),
// 'upgrade' relays WebSocket and other upgrades, and what node lets through but HTTP/1.1
// forbids (no version, HTTP/2.0, TRACE) is answered here first (early-answers.ts). Malformed
// input, head timeouts and the connection limit are connection-guard.ts's job.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyContext } from '../pipeline/context.js';
import { handleConnect } from '../pipeline/pipe.js';
import { runRequest } from '../pipeline/run.js';
import { handleUpgrade } from '../pipeline/upgrade.js';
import { redactAuthority, redactUrl } from '../observe/redact.js';
import type { Interceptor } from '../tls/interceptor.js';
import { ConnectionGuard } from './connection-guard.js';
import { trackConnections, type TrackedConnections } from './drain.js';
import { perClientShare } from './connection-table.js';
import { answerResponse, answerSocket, requestLineRefusal } from './early-answers.js';
import { absoluteTarget, TunnelContents } from './tunnel-contents.js';

/** The proxy's listener, and its connections as a drain sees them (drain.ts). */
export function createProxyServer(ctx: ProxyContext, interceptor?: Interceptor): { server: http.Server; connections: TrackedConnections } {
  const { config, logger } = ctx;
  const server = http.createServer({
    keepAliveTimeout: config.keepAliveTimeoutMs,
    requestTimeout: 0,
    headersTimeout: config.headersTimeoutMs,
    // node checks head deadlines on this interval; a short timeout needs a finer check.
    connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(config.headersTimeoutMs / 2) || 30_000)),
  });
  // node answers a client that shut down its write side with nothing (it aborts the request on
  // 'end'); a complete request deserves its answer, sent before our side closes too.
  Object.assign(server, { httpAllowHalfOpen: true });
  const guard = new ConnectionGuard(
    {
      maxConnections: config.maxConnections,
      maxPerClient: perClientShare(config.maxConnections, config.maxConnectionsPerClient),
      headersTimeoutMs: config.headersTimeoutMs,
      sendTimeoutMs: config.sendTimeoutMs,
    },
    logger,
  );
  server.once('close', () => guard.stop());
  const inside = new TunnelContents(server, interceptor, guard);
  server.on('connection', (socket: Duplex) => guard.onConnection(socket));
  const onRequest = (clientReq: http.IncomingMessage, clientRes: http.ServerResponse): void => {
    const refusal = requestLineRefusal(clientReq.method, clientReq.httpVersionMajor, clientReq.httpVersionMinor);
    if (refusal) {
      answerResponse(clientRes, refusal, clientReq.method);
      logger.warn('request', { method: clientReq.method, url: redactUrl(clientReq.url ?? ''), status: refusal.status, error: refusal.code, version: clientReq.httpVersion });
      return;
    }
    // Inside a tunnel, `GET /path` means the tunnel's origin: the pipeline sees an absolute target.
    clientReq.url = absoluteTarget(clientReq);
    void runRequest(ctx, clientReq, clientRes);
  };
  server.on('request', (clientReq: http.IncomingMessage, clientRes: http.ServerResponse) => guard.serve(clientReq, clientRes, onRequest));
  server.on('connect', (clientReq: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (guard.isRefused(socket)) return;
    guard.tunnelOpening(socket);
    guard.afterOwedAnswers(socket, () => onConnect(clientReq, socket, head));
  });
  const onConnect = (clientReq: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const refusal = clientReq.httpVersionMajor === 1 ? undefined : requestLineRefusal(clientReq.method, clientReq.httpVersionMajor, clientReq.httpVersionMinor);
    if (refusal) {
      socket.on('error', () => {});
      answerSocket(socket, refusal);
      logger.warn('request', { method: 'CONNECT', url: redactAuthority(clientReq.url ?? ''), status: refusal.status, error: refusal.code, version: clientReq.httpVersion });
      return;
    }
    handleConnect(ctx, clientReq, socket, head, inside);
  };
  server.on('upgrade', (clientReq: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (guard.isRefused(socket)) return;
    guard.tunnelOpening(socket);
    clientReq.url = absoluteTarget(clientReq);
    guard.afterOwedAnswers(socket, () => handleUpgrade(ctx, clientReq, socket, head));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => guard.onClientError(error, socket));
  // The guard keeps each socket's last response already: no 'request' listener of the drain's.
  return { server, connections: trackConnections(server, (socket) => guard.lastResponse(socket)) };
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

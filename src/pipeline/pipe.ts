// CONNECT host:port: after the client, port and destination rules (403) and identity (407),
// open a TCP connection to the target and copy bytes both ways until either side closes.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import { parseRequestTarget } from '../http/request-target.js';
import { upstreamError } from '../http/upstream.js';
import type { ProxyContext } from './context.js';

function reject(socket: Duplex, error: ProxyError): void {
  const body = `${error.status} ${error.code}: ${error.message}\n`;
  const extra = Object.entries(error.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}

export function handleConnect(ctx: ProxyContext, clientReq: IncomingMessage, clientSocket: Duplex, head: Buffer): void {
  const startedAt = ctx.now();
  const log = (status: number, fields: Record<string, string | number | undefined> = {}) =>
    ctx.logger[status >= 400 ? 'warn' : 'info']('request', { method: 'CONNECT', url: clientReq.url, status, ms: ctx.now() - startedAt, ...fields });
  clientSocket.on('error', () => {});
  let host: string;
  let port: number;
  try {
    const refused = ctx.guard.clientRefusal(clientReq.socket);
    if (refused) throw refused;
    const target = parseRequestTarget('CONNECT', clientReq.url);
    if (target.form !== 'authority') throw new ProxyError(400, 'bad_target', 'CONNECT needs host:port');
    ({ host, port } = target);
    ctx.policies.identify(clientReq);
    ctx.guard.checkConnectPort(port);
    ctx.guard.checkLiteral(host, port);
  } catch (error) {
    const proxyError = error instanceof ProxyError ? error : new ProxyError(400, 'bad_request', String(error));
    reject(clientSocket, proxyError);
    log(proxyError.status, { error: proxyError.code });
    return;
  }
  // Names are checked on the addresses they resolve to (a name may point at 127.0.0.1).
  const originSocket = net.connect({ host, port, lookup: ctx.guard.lookupFor(port) });
  let established = false;
  originSocket.setTimeout(ctx.config.upstreamTimeoutMs, () => originSocket.destroy(Object.assign(new Error('timeout'), { code: 'UPSTREAM_TIMEOUT' })));
  originSocket.once('connect', () => {
    established = true;
    originSocket.setTimeout(0); // once established, a tunnel may idle as long as its ends like
    clientSocket.write('HTTP/1.1 200 Connection Established\r\nvia: 1.1 etag-proxy\r\n\r\n');
    if (head.length) originSocket.write(head);
    originSocket.pipe(clientSocket);
    clientSocket.pipe(originSocket);
    log(200, { tunnel: `${host}:${port}` });
  });
  originSocket.on('error', (error) => {
    if (established) {
      clientSocket.destroy();
      return;
    }
    const mapped = upstreamError(error, `${host}:${port}`);
    reject(clientSocket, mapped);
    log(mapped.status, { error: mapped.code });
  });
  clientSocket.on('close', () => originSocket.destroy());
  originSocket.on('close', () => {
    if (established) clientSocket.destroy();
  });
}

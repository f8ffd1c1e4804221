// Upgrade requests (RFC 9110 §7.8; WebSocket, RFC 6455 §4): over plain HTTP, inside a plain
// HTTP tunnel and inside interception alike. The request goes to the origin with its Upgrade and
// Connection fields; after the origin's 101 the two connections are joined as a byte stream.
// Nothing here is cached. An origin that declines gets its answer relayed, then the close.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { parseRequestTarget } from '../http/request-target.js';
import { upstreamError } from '../http/upstream.js';
import { redactUrl } from '../observe/redact.js';
import type { ProxyContext } from './context.js';
import { originDrops } from './origin-fields.js';
import { reject } from './pipe.js';
import { routeKeyOf } from '../parents/request-key.js';

const DECLINED_DROPS: ReadonlySet<string> = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

export function handleUpgrade(ctx: ProxyContext, clientReq: IncomingMessage, clientSocket: Duplex, head: Buffer): void {
  const startedAt = ctx.now();
  clientSocket.on('error', () => {});
  const log = (status: number, fields: Record<string, string | number | undefined> = {}) =>
    ctx.logger[status >= 400 ? 'warn' : 'info']('request', { method: clientReq.method, url: redactUrl(clientReq.url ?? ''), status, ms: ctx.now() - startedAt, upgrade: clientReq.headers['upgrade'], ...fields });
  void open(ctx, clientReq, clientSocket, head, log).catch((error: unknown) => {
    const proxyError = error instanceof ProxyError ? error : upstreamError(error, clientReq.headers['host'] ?? '');
    if (clientSocket.writable) reject(clientSocket, proxyError);
    else clientSocket.destroy();
    log(proxyError.status, { error: proxyError.code });
  });
}

async function open(ctx: ProxyContext, clientReq: IncomingMessage, clientSocket: Duplex, head: Buffer, log: (status: number, fields?: Record<string, string | number | undefined>) => void): Promise<void> {
  const refused = ctx.guard.clientRefusal(clientReq.socket);
  if (refused) throw refused;
  const target = parseRequestTarget(clientReq.method ?? 'GET', clientReq.url);
  if (target.form !== 'absolute' || ctx.isSelf(target.url)) throw new ProxyError(400, 'bad_target', 'an upgrade request needs an absolute-form target of another host');
  const client = ctx.policies.identify(clientReq);
  const url = target.url;
  // Upgrade and Connection are hop-by-hop (RFC 9110 §7.6.1): a proxy that relays the upgrade sends its own.
  const headers = forwardHeaders(clientReq, url, originDrops(ctx, 'upgrade'), { connection: 'upgrade', upgrade: String(clientReq.headers['upgrade']) });
  let answer;
  try {
    answer = await ctx.upstream.upgrade({ url, method: clientReq.method ?? 'GET', headers, routeKey: routeKeyOf(ctx, clientReq, client.id) });
  } catch (error) {
    throw upstreamError(error, url.host);
  }
  const { originRes } = answer;
  const status = originRes.statusCode ?? 502;
  const lines = [`HTTP/1.1 ${status} ${originRes.statusMessage ?? ''}`];
  for (let i = 0; i < originRes.rawHeaders.length; i += 2) {
    // A declined upgrade's body arrives decoded: it is relayed close-delimited (RFC 9112 §6.3).
    if (!answer.upgraded && DECLINED_DROPS.has(originRes.rawHeaders[i]!.toLowerCase())) continue;
    lines.push(`${originRes.rawHeaders[i]}: ${originRes.rawHeaders[i + 1]}`);
  }
  if (!answer.upgraded) {
    // Declined: relay the answer and close (the client's connection was given to us).
    lines.push('connection: close');
    clientSocket.write(`${lines.join('\r\n')}\r\n\r\n`);
    originRes.pipe(clientSocket);
    log(status, { client: client.id });
    return;
  }
  const originSocket = answer.socket;
  originSocket.on('error', () => clientSocket.destroy());
  clientSocket.on('error', () => originSocket.destroy());
  clientSocket.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (answer.head.length) clientSocket.write(answer.head);
  if (head.length) originSocket.write(head);
  originSocket.pipe(clientSocket);
  clientSocket.pipe(originSocket);
  clientSocket.on('close', () => originSocket.destroy());
  originSocket.on('close', () => clientSocket.destroy());
  log(status, { client: client.id, url: redactUrl(url.href) });
}

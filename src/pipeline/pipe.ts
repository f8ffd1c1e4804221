// CONNECT host:port: after the client, port and destination rules (403) and identity (407),
// open a TCP connection to the target and copy bytes both ways until either side closes.
// What the client sends first decides the rest (server/tunnel-contents.ts): plain HTTP is
// served by the pipeline as http://host:port, TLS to an intercepted host is decrypted and
// served as https://host:port, and anything else stays a byte-for-byte tunnel.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import { parseRequestTarget } from '../http/request-target.js';
import { upstreamError } from '../http/upstream.js';
import type { TunnelContents, TunnelTarget } from '../server/tunnel-contents.js';
import { tunnelPayload, type TunnelPayload } from '../tls/client-hello.js';
import { redactAuthority } from '../observe/redact.js';
import type { ProxyContext } from './context.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\nvia: 1.1 etag-proxy\r\n\r\n';
/** Bytes read to tell HTTP from TLS from anything else before giving up on telling. */
const MAX_SNIFF = 20_000;

export function reject(socket: Duplex, error: ProxyError): void {
  const body = `${error.status} ${error.code}: ${error.message}\n`;
  const extra = Object.entries(error.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}

type Log = (status: number, fields?: Record<string, string | number | undefined>) => void;

export function handleConnect(ctx: ProxyContext, clientReq: IncomingMessage, clientSocket: Duplex, head: Buffer, inside?: TunnelContents): void {
  const startedAt = ctx.now();
  const log: Log = (status, fields = {}) =>
    ctx.logger[status >= 400 ? 'warn' : 'info']('request', { method: 'CONNECT', url: redactAuthority(clientReq.url ?? ''), status, ms: ctx.now() - startedAt, ...fields });
  clientSocket.on('error', () => {});
  let tunnel: TunnelTarget;
  try {
    const refused = ctx.guard.clientRefusal(clientReq.socket);
    if (refused) throw refused;
    const target = parseRequestTarget('CONNECT', clientReq.url);
    if (target.form !== 'authority') throw new ProxyError(400, 'bad_target', 'CONNECT needs host:port');
    const identity = ctx.policies.identify(clientReq);
    ctx.guard.checkConnectPort(target.port);
    ctx.guard.checkLiteral(target.host, target.port);
    tunnel = { host: target.host, port: target.port, identity };
  } catch (error) {
    const proxyError = error instanceof ProxyError ? error : new ProxyError(400, 'bad_request', String(error));
    reject(clientSocket, proxyError);
    log(proxyError.status, { error: proxyError.code });
    return;
  }
  const label = `${tunnel.host}:${tunnel.port}`;
  if (inside?.intercepts(tunnel.host)) {
    // TLS ends here: each request inside reaches the origin on its own (its failures are 502s
    // inside the tunnel), so the client is answered before any origin connection.
    clientSocket.write(ESTABLISHED);
    readFirstBytes(clientSocket, head, true, undefined, (payload, bytes) => {
      if (payload !== 'other' && inside.serve(clientSocket, bytes, payload, tunnel)) {
        log(200, { tunnel: label, inside: payload });
        return;
      }
      relay(ctx, clientSocket, bytes, tunnel, log, true);
    });
    return;
  }
  relay(ctx, clientSocket, head, tunnel, log, false, inside);
}

/**
 * The byte tunnel. Unless `answered`, the client gets its 200 once the origin accepted the
 * connection; with `inside`, a tunnel whose first bytes are plain HTTP is served instead.
 */
function relay(ctx: ProxyContext, clientSocket: Duplex, pending: Buffer, tunnel: TunnelTarget, log: Log, answered: boolean, inside?: TunnelContents): void {
  const { host, port } = tunnel;
  // Names are checked on the addresses they resolve to (a name may point at 127.0.0.1).
  const originSocket = net.connect({ host, port, lookup: ctx.guard.lookupFor(port) });
  let established = false;
  let servedHere = false;
  originSocket.setTimeout(ctx.config.upstreamTimeoutMs, () => originSocket.destroy(Object.assign(new Error('timeout'), { code: 'UPSTREAM_TIMEOUT' })));
  const pipeBoth = (bytes: Buffer) => {
    if (bytes.length) originSocket.write(bytes);
    originSocket.pipe(clientSocket);
    clientSocket.pipe(originSocket);
  };
  originSocket.once('connect', () => {
    established = true;
    originSocket.setTimeout(0); // once established, a tunnel may idle as long as its ends like
    if (!answered) clientSocket.write(ESTABLISHED);
    if (!inside) {
      pipeBoth(pending);
      log(200, { tunnel: `${host}:${port}` });
      return;
    }
    // A server that speaks first (SMTP, SSH) is no HTTP server: stop looking and relay.
    readFirstBytes(clientSocket, pending, false, originSocket, (payload, bytes) => {
      if (payload === 'http' && inside.serve(clientSocket, bytes, payload, tunnel)) {
        servedHere = true;
        originSocket.destroy();
        log(200, { tunnel: `${host}:${port}`, inside: payload });
        return;
      }
      pipeBoth(bytes);
      log(200, { tunnel: `${host}:${port}` });
    });
  });
  originSocket.on('error', (error) => {
    if (established || answered) {
      clientSocket.destroy();
      return;
    }
    const mapped = upstreamError(error, `${host}:${port}`);
    reject(clientSocket, mapped);
    log(mapped.status, { error: mapped.code });
  });
  clientSocket.on('close', () => originSocket.destroy());
  originSocket.on('close', () => {
    if ((established || answered) && !servedHere) clientSocket.destroy();
  });
}

/**
 * Read the client's first bytes (after `head`) until they tell what they are, then call `done`
 * with the socket paused and every byte read so far. The origin speaking first, or the client
 * ending, settles it as 'other'.
 */
function readFirstBytes(
  socket: Duplex,
  head: Buffer,
  wholeHello: boolean,
  origin: net.Socket | undefined,
  done: (payload: TunnelPayload, bytes: Buffer) => void,
): void {
  let bytes = head;
  let settled = false;
  const settle = (payload: TunnelPayload) => {
    if (settled) return;
    settled = true;
    socket.off('data', onData);
    socket.off('end', onEnd);
    origin?.off('readable', onOrigin);
    socket.pause();
    done(payload, bytes);
  };
  const onData = (chunk: Buffer) => {
    bytes = bytes.length ? Buffer.concat([bytes, chunk]) : chunk;
    const payload = tunnelPayload(bytes, wholeHello) ?? (bytes.length >= MAX_SNIFF ? 'other' : undefined);
    if (payload) settle(payload);
  };
  const onEnd = () => settle('other');
  const onOrigin = () => settle('other');
  const known = tunnelPayload(bytes, wholeHello);
  if (known) return done(known, bytes);
  socket.on('data', onData);
  socket.once('end', onEnd);
  origin?.once('readable', onOrigin);
}

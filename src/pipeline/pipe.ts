// CONNECT host:port: after the client, port and destination rules (403) and identity (407),
// open a TCP connection to the target and copy bytes both ways until either side closes.
// What the client sends first decides the rest (server/tunnel-contents.ts): plain HTTP is
// served by the pipeline as http://host:port, TLS to an intercepted host is decrypted and
// served as https://host:port, and anything else stays a byte-for-byte tunnel, which only
// --connect-ports may reach. Those first bytes get --headers-timeout to arrive.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import { parseRequestTarget } from '../http/request-target.js';
import { upstreamError } from '../http/upstream.js';
import { connectThroughParent, ParentFailure } from '../parents/connect.js';
import { routeKeyOf } from '../parents/request-key.js';
import type { TunnelContents, TunnelTarget } from '../server/tunnel-contents.js';
import { tunnelPayload, type TunnelPayload } from '../tls/client-hello.js';
import { redactAuthority } from '../observe/redact.js';
import { describeDuration } from '../server/connection-guard.js';
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
  const refuse = (error: unknown) => {
    const proxyError = error instanceof ProxyError ? error : new ProxyError(400, 'bad_request', String(error));
    reject(clientSocket, proxyError);
    log(proxyError.status, { error: proxyError.code });
  };
  let tunnel: TunnelTarget;
  let portListed: boolean;
  try {
    const refused = ctx.guard.clientRefusal(clientReq.socket);
    if (refused) throw refused;
    const target = parseRequestTarget('CONNECT', clientReq.url);
    if (target.form !== 'authority') throw new ProxyError(400, 'bad_target', 'CONNECT needs host:port');
    const identity = ctx.policies.identify(clientReq);
    // A port outside --connect-ports is open only to a tunnel whose contents are served here.
    portListed = ctx.guard.listsConnectPort(target.port);
    if (!portListed && !inside) ctx.guard.checkConnectPort(target.port);
    ctx.guard.checkLiteral(target.host, target.port);
    const routeKey = routeKeyOf(ctx, clientReq, identity.id);
    tunnel = { host: target.host, port: target.port, identity, client: clientReq.socket.remoteAddress ?? '', ...(routeKey && { routeKey }) };
  } catch (error) {
    refuse(error);
    return;
  }
  if (!inside || (portListed && !inside.intercepts(tunnel.host))) {
    relay(ctx, clientSocket, head, tunnel, log, false, inside);
    return;
  }
  // Answered before any origin connection (TLS ends here, or only HTTP may pass): a name is
  // resolved first, so that a tunnel to this process's own listeners is refused, not answered 200.
  ctx.guard.checkTunnelName(tunnel.host, tunnel.port, portListed ? 'own-listeners' : 'all').then(
    () => {
      if (!clientSocket.destroyed) serveInside(ctx, clientSocket, head, tunnel, log, inside, portListed);
    },
    (error: unknown) => refuse(upstreamError(error, `${tunnel.host}:${tunnel.port}`)),
  );
}

/**
 * A tunnel answered at once: each request inside reaches the origin on its own (its failures are
 * answered inside the tunnel). Its first bytes decide: HTTP, or TLS to an intercepted host, is
 * served here; anything else is a byte-for-byte tunnel, which only --connect-ports may reach.
 */
function serveInside(ctx: ProxyContext, clientSocket: Duplex, head: Buffer, tunnel: TunnelTarget, log: Log, inside: TunnelContents, portListed: boolean): void {
  const label = `${tunnel.host}:${tunnel.port}`;
  clientSocket.write(ESTABLISHED);
  inside.waiting(clientSocket);
  const deadline = firstBytesDeadline(ctx);
  readFirstBytes(clientSocket, head, inside.intercepts(tunnel.host), undefined, deadline, (payload, bytes) => {
    if (payload === 'timeout') return timedOut(ctx, clientSocket, log, label);
    const onTimeout = () => timedOut(ctx, clientSocket, log, label, 'its TLS handshake did not finish');
    if (payload !== 'other' && inside.serve(clientSocket, bytes, payload, tunnel, { deadline, onTimeout })) {
      log(200, { tunnel: label, inside: payload });
      return;
    }
    if (!portListed) {
      // The 200 is out: closing the tunnel is the refusal.
      clientSocket.destroy();
      const refusal = ctx.guard.connectPortRefusal(tunnel.port, `a tunnel to port ${tunnel.port} that is not HTTP${inside.intercepts(tunnel.host) ? ' or TLS' : ''} is not allowed`);
      log(refusal.status, { error: refusal.code, tunnel: label, detail: refusal.message, closed: 'after 200' });
      return;
    }
    relay(ctx, clientSocket, bytes, tunnel, log, true, inside);
  });
}

/** --headers-timeout for what a tunnel sends first (and, intercepted, for its TLS handshake too). */
function firstBytesDeadline(ctx: ProxyContext): AbortSignal | undefined {
  return ctx.config.headersTimeoutMs > 0 ? AbortSignal.timeout(ctx.config.headersTimeoutMs) : undefined;
}

/** No status can be placed inside a tunnel that has not started HTTP (or TLS): close it, one line. */
function timedOut(ctx: ProxyContext, clientSocket: Duplex, log: Log, label: string, what = 'no request arrived in it'): void {
  clientSocket.destroy();
  log(408, { error: 'request_timeout', tunnel: label, detail: `${what} within ${describeDuration(ctx.config.headersTimeoutMs)} (--headers-timeout): closed` });
}

/**
 * The byte tunnel. Unless `answered`, the client gets its 200 once the origin accepted the
 * connection; with `inside`, a tunnel whose first bytes are plain HTTP is served instead.
 */
function relay(ctx: ProxyContext, clientSocket: Duplex, pending: Buffer, tunnel: TunnelTarget, log: Log, answered: boolean, inside?: TunnelContents): void {
  const { host, port } = tunnel;
  const label = `${host}:${port}`;
  let established = false;
  let servedHere = false;
  let originSocket: net.Socket | undefined;
  let carried: Record<string, string> = {};
  const failed = (error: unknown) => {
    if (established || answered) {
      clientSocket.destroy();
      return;
    }
    const mapped = upstreamError(error, label);
    reject(clientSocket, mapped);
    log(mapped.status, { error: mapped.code, ...carried });
  };
  const pipeBoth = (bytes: Buffer) => {
    inside?.blind(clientSocket);
    if (bytes.length) originSocket!.write(bytes);
    originSocket!.pipe(clientSocket);
    clientSocket.pipe(originSocket!);
  };
  const opened = (socket: net.Socket) => {
    originSocket = socket;
    established = true;
    socket.setTimeout(0); // once established, a tunnel may idle as long as its ends like
    socket.on('error', failed);
    socket.on('close', () => {
      if (!servedHere) clientSocket.destroy();
    });
    if (!answered) clientSocket.write(ESTABLISHED);
    if (!inside || answered) {
      pipeBoth(pending);
      log(200, { tunnel: label, ...carried });
      return;
    }
    inside.waiting(clientSocket);
    // A server that speaks first (SMTP, SSH) is no HTTP server: stop looking and relay. Neither
    // side saying anything within --headers-timeout is a tunnel held idle: it is closed.
    readFirstBytes(clientSocket, pending, false, socket, firstBytesDeadline(ctx), (payload, bytes) => {
      if (payload === 'timeout') return timedOut(ctx, clientSocket, log, label);
      if (payload === 'http' && inside.serve(clientSocket, bytes, payload, tunnel)) {
        servedHere = true;
        socket.destroy();
        log(200, { tunnel: label, inside: payload });
        return;
      }
      pipeBoth(bytes);
      log(200, { tunnel: label, ...carried });
    });
  };
  clientSocket.on('close', () => originSocket?.destroy());
  let route;
  try {
    const bare = host.replace(/^\[|\]$/g, '');
    route = ctx.upstream.options.parents?.route(new URL(`https://${bare.includes(':') ? `[${bare}]` : bare}:${port}/`), tunnel.routeKey);
  } catch (error) {
    return failed(error);
  }
  if (route?.kind === 'parent') {
    // Through a parent: a CONNECT (or SOCKS5) to it; the parent resolves and reaches the target.
    carried = { pool: route.pool.name, parent: route.parent.label };
    connectThroughParent(route.parent, route.credentials, host, port, ctx.upstream.parentConnect).then(
      (socket) => (clientSocket.destroyed ? socket.destroy() : opened(socket)),
      (error: unknown) => {
        // A tunnel is not retried (the client may have sent bytes already); the parent cools down.
        if (error instanceof ParentFailure) ctx.upstream.options.parents?.failed(error.parent);
        failed(error);
      },
    );
    return;
  }
  // Names are checked on the addresses they resolve to (a name may point at 127.0.0.1).
  const direct = net.connect({ host, port, lookup: ctx.guard.lookupFor(port) });
  direct.setTimeout(ctx.config.upstreamTimeoutMs, () => direct.destroy(Object.assign(new Error('timeout'), { code: 'UPSTREAM_TIMEOUT' })));
  direct.once('connect', () => {
    direct.off('error', failed);
    opened(direct);
  });
  direct.on('error', failed);
  originSocket = direct;
}

/**
 * Read the client's first bytes (after `head`) until they tell what they are, then call `done`
 * with the socket paused and every byte read so far. The origin speaking first, or the client
 * ending, settles it as 'other'; the deadline passing first, as 'timeout'.
 */
function readFirstBytes(
  socket: Duplex,
  head: Buffer,
  wholeHello: boolean,
  origin: net.Socket | undefined,
  deadline: AbortSignal | undefined,
  done: (payload: TunnelPayload | 'timeout', bytes: Buffer) => void,
): void {
  let bytes = head;
  let settled = false;
  const settle = (payload: TunnelPayload | 'timeout') => {
    if (settled) return;
    settled = true;
    socket.off('data', onData);
    socket.off('end', onEnd);
    origin?.off('readable', onOrigin);
    deadline?.removeEventListener('abort', onDeadline);
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
  const onDeadline = () => settle('timeout');
  const known = tunnelPayload(bytes, wholeHello);
  if (known) return done(known, bytes);
  if (deadline?.aborted) return done('timeout', bytes);
  socket.on('data', onData);
  socket.once('end', onEnd);
  origin?.once('readable', onOrigin);
  deadline?.addEventListener('abort', onDeadline, { once: true });
}

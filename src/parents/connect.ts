// A byte stream to host:port through one parent: a CONNECT to an http:// or https:// parent
// (RFC 9110 §9.3.6; TLS to the parent verified against Node's roots or --upstream-ca), or a
// SOCKS5 handshake (RFC 1928, user/password RFC 1929) with the name resolved here (socks5, checked
// by the guard) or by the parent (socks5h). Callers decide when: http/upstream.ts (TLS to
// the origin inside, undici's connector and node:http's createConnection) and pipeline/pipe.ts
// (passthrough tunnels). Failures are ProxyErrors naming the parent by label, never credentials.
import type { LookupFunction, Socket } from 'node:net';
import net from 'node:net';
import tls from 'node:tls';
import { SocksClient } from 'socks';
import { ProxyError } from '../errors.js';
import type { Credentials, Parent } from './pool.js';
import { basic } from './pool.js';

export interface ParentConnectOptions {
  timeoutMs: number;
  /** Roots for https:// parents (undefined: Node's). */
  ca?: string[];
  rejectUnauthorized: boolean;
  /** Resolves a destination name before a socks5:// (not socks5h) handshake; checks the addresses. */
  lookup?: (port: number) => LookupFunction;
}

/** Certificate checks that failed on the connection to an https:// parent. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH)/;

/** Largest CONNECT answer head read from a parent. */
const MAX_ANSWER_HEAD = 16 * 1024;

/** How a parent failed a request: for the cooldown (parents/pool.ts) and the 502's code. */
export class ParentFailure extends ProxyError {
  constructor(
    readonly parent: Parent,
    code: 'parent_refused' | 'parent_auth_failed' | 'parent_unreachable' | 'parent_timeout' | 'parent_banned' | 'parent_error',
    text: string,
  ) {
    super(code === 'parent_timeout' ? 504 : 502, code, `parent ${parent.label} (pool "${parent.pool}") ${text}`);
  }
}

/** `credentials`: the route's (a filled user-name template, or the parent's own). */
export function connectThroughParent(parent: Parent, credentials: Credentials | undefined, host: string, port: number, options: ParentConnectOptions): Promise<Socket> {
  const { scheme } = parent.spec;
  if (scheme === 'socks5' || scheme === 'socks5h') return socksConnect(parent, credentials, host, port, options);
  return httpConnect(parent, credentials, host, port, options);
}

function authority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function openToParent(parent: Parent, options: ParentConnectOptions): Socket {
  const { scheme, host, port } = parent.spec;
  if (scheme !== 'https') return tracked(parent, net.connect({ host, port }));
  return tracked(parent, tls.connect({
    host,
    port,
    ...(net.isIP(host) === 0 && { servername: host }),
    ...(options.ca && { ca: options.ca }),
    rejectUnauthorized: options.rejectUnauthorized,
    ALPNProtocols: ['http/1.1'],
  }));
}

function tracked(parent: Parent, socket: Socket): Socket {
  parent.tally.track(socket);
  return socket;
}

function httpConnect(parent: Parent, credentials: Credentials | undefined, host: string, port: number, options: ParentConnectOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = openToParent(parent, options);
    const target = authority(host, port);
    let head = Buffer.alloc(0);
    const fail = (error: ProxyError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_ANSWER_HEAD) fail(new ParentFailure(parent, 'parent_error', `sent a CONNECT answer head over ${MAX_ANSWER_HEAD} bytes`));
        return;
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1', 0, Math.min(end, 64)))?.[1] ?? 0);
      if (status === 407) return fail(new ParentFailure(parent, 'parent_auth_failed', `refused our credentials for the CONNECT to ${target} (407)`));
      if (status < 200 || status > 299) return fail(new ParentFailure(parent, 'parent_refused', `answered the CONNECT to ${target} with ${status || 'something that is not HTTP'}`));
      cleanup();
      socket.pause();
      // Bytes past the head are the origin's already (a server that speaks first).
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      socket.setTimeout(0);
      resolve(socket);
    };
    const onError = (error: NodeJS.ErrnoException) => fail(parentConnectError(parent, error));
    const onClose = () => fail(new ParentFailure(parent, 'parent_refused', `closed the connection before answering the CONNECT to ${target}`));
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.setTimeout(options.timeoutMs, () => fail(new ParentFailure(parent, 'parent_timeout', `did not answer the CONNECT to ${target} in ${options.timeoutMs} ms`)));
    const auth = credentials ? `proxy-authorization: ${basic(credentials.username, credentials.password)}\r\n` : '';
    socket.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n${auth}\r\n`);
  });
}

async function socksConnect(parent: Parent, credentials: Credentials | undefined, host: string, port: number, options: ParentConnectOptions): Promise<Socket> {
  const { spec } = parent;
  let destination = host;
  // socks5: the name is resolved here, on the addresses the guard allows; socks5h: by the parent.
  if (spec.scheme === 'socks5' && net.isIP(host) === 0 && options.lookup) destination = await resolve(options.lookup(port), host);
  try {
    const { socket } = await SocksClient.createConnection({
      command: 'connect',
      destination: { host: destination, port },
      proxy: { host: spec.host, port: spec.port, type: 5, ...(credentials && { userId: credentials.username, password: credentials.password }) },
      timeout: options.timeoutMs,
    });
    // Counted from here: the handshake's bytes are not (a few dozen per connection).
    return tracked(parent, socket);
  } catch (error) {
    throw parentConnectError(parent, error as NodeJS.ErrnoException, authority(host, port));
  }
}

function resolve(lookup: LookupFunction, host: string): Promise<string> {
  return new Promise((done, fail) => lookup(host, {}, (error, address) => (error ? fail(error) : done(typeof address === 'string' ? address : (address[0]?.address ?? '')))));
}

/** A socket, TLS or SOCKS error on the way to a parent → a failure that names the parent (the socks library's messages hold no credentials). */
export function parentConnectError(parent: Parent, error: NodeJS.ErrnoException, target?: string): ProxyError {
  if (error instanceof ProxyError) return error;
  const { code = '', message = '' } = error;
  if (code === 'ECONNREFUSED') return new ParentFailure(parent, 'parent_unreachable', 'refused the connection');
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) return new ParentFailure(parent, 'parent_timeout', 'did not answer in time');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ParentFailure(parent, 'parent_unreachable', 'has a host name that does not resolve');
  if (TLS_CODES.test(code)) return new ParentFailure(parent, 'parent_error', `failed the TLS check (${code}); trust its CA with --upstream-ca FILE`);
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return new ParentFailure(parent, 'parent_refused', 'closed the connection before answering');
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new ParentFailure(parent, 'parent_timeout', 'did not accept the connection in time');
  if (/authentication/i.test(message)) return new ParentFailure(parent, 'parent_auth_failed', `refused our credentials${target ? ` for ${target}` : ''}`);
  if (/socks/i.test(message)) return new ParentFailure(parent, 'parent_refused', `refused the connection to ${target ?? 'the destination'} (${message.replace(/^Socks5 proxy rejected connection - /, '')})`);
  return new ParentFailure(parent, 'parent_error', `failed: ${code || message || 'unknown error'}`);
}

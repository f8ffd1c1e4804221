// The only module that talks to origins: one keep-alive agent, one errno → error table, so a
// refused connection is a 502 and a silent origin a 504 on every path. node:http rather than
// http-proxy: see the README's design notes (exact request-targets, timeouts, no client needed).
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { AbortTransfer, ProxyError } from '../errors.js';
import type { Guard } from '../guard/guard.js';
import { httpsAgentOptions, tlsUpstreamError, type UpstreamTrust } from './upstream-tls.js';

export interface UpstreamOptions {
  timeoutMs: number;
  maxSockets?: number;
  /** Checks every address a request would connect to (destination rules, own listeners). */
  guard: Guard;
  /** Roots for https:// origins (Node's by default; see upstream-tls.ts). */
  tls?: UpstreamTrust;
}

/** errno (or our own timeout code) → how the client is answered (before the response head). */
const ERRNO_TABLE = {
  ECONNREFUSED: { status: 502, code: 'upstream_refused', text: 'the origin refused the connection' },
  ENOTFOUND: { status: 502, code: 'upstream_unknown_host', text: 'the origin host name does not resolve' },
  EAI_AGAIN: { status: 502, code: 'upstream_unknown_host', text: 'the origin host name could not be resolved' },
  ECONNRESET: { status: 502, code: 'upstream_reset', text: 'the origin closed the connection before answering' },
  EPIPE: { status: 502, code: 'upstream_reset', text: 'the origin closed the connection before answering' },
  EHOSTUNREACH: { status: 502, code: 'upstream_unreachable', text: 'the origin host is unreachable' },
  ENETUNREACH: { status: 502, code: 'upstream_unreachable', text: 'the origin network is unreachable' },
  HPE_INVALID: { status: 502, code: 'upstream_bad_response', text: 'the origin sent a malformed response' },
  UPSTREAM_TIMEOUT: { status: 504, code: 'upstream_timeout', text: 'the origin did not answer in time' },
} as const;

/** Requests sent once more when a reused keep-alive socket turns out to be closed (RFC 9110 §9.2.2). */
const RETRYABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export class UpstreamTimeout extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
  constructor(ms: number) {
    super(`no data from the origin for ${ms} ms`);
  }
}

/** Classify an upstream failure that happened before the response head reached the client. */
export function upstreamError(error: unknown, host: string): ProxyError {
  if (error instanceof ProxyError) return error; // already classified (a refused destination)
  const tlsFailure = tlsUpstreamError(error, host);
  if (tlsFailure) return tlsFailure;
  const code = (error as { code?: string } | null)?.code ?? '';
  const row = ERRNO_TABLE[code as keyof typeof ERRNO_TABLE] ?? (code.startsWith('HPE_') ? ERRNO_TABLE.HPE_INVALID : undefined);
  if (row) return new ProxyError(row.status, row.code, `${row.text}: ${host}`);
  return new ProxyError(502, 'upstream_error', `upstream request to ${host} failed: ${code || (error as Error)?.message || 'unknown error'}`);
}

/** Classify a failure after the response head was sent: the transfer can only be cut. */
export function midBodyError(error: unknown, host: string): AbortTransfer {
  const code = (error as { code?: string } | null)?.code ?? 'ECONNRESET';
  return new AbortTransfer(code === 'UPSTREAM_TIMEOUT' ? 'upstream_timeout_mid_body' : 'upstream_reset_mid_body', `origin ${host} failed mid-body (${code})`);
}

export interface OriginRequest {
  url: URL;
  method: string;
  headers: OutgoingHttpHeaders;
  /** Interim (1xx) responses before the final one (RFC 9110 §15.2), for relaying to the client. */
  onInterim?: (interim: http.InformationEvent) => void;
}

export type UpgradeAnswer =
  | { upgraded: true; originRes: IncomingMessage; socket: Duplex; head: Buffer }
  | { upgraded: false; originRes: IncomingMessage };

export class Upstream {
  readonly agent: http.Agent;
  /** https:// origins: kept alive and reused like http ones, TLS sessions resumed. */
  readonly httpsAgent: https.Agent;

  constructor(readonly options: UpstreamOptions) {
    const pool = { keepAlive: true, maxSockets: options.maxSockets ?? 256, maxFreeSockets: 64, scheduling: 'lifo' } as const;
    this.agent = new http.Agent(pool);
    this.httpsAgent = new https.Agent({ ...pool, ...httpsAgentOptions(options.tls) });
  }

  /**
   * Send a request (with the client's body streamed through when `body` is given) (a cache fill or revalidation) and resolve with the response head.
   * The socket idle timeout covers both "silent before the head" (rejects → 504) and
   * "silent mid-body" (the response stream errors → the transfer is cut).
   */
  request(originReq: OriginRequest, body?: Readable): Promise<IncomingMessage> {
    return this.attempt(originReq, body, !body && RETRYABLE_METHODS.has(originReq.method));
  }

  private attempt(originReq: OriginRequest, body: Readable | undefined, mayRetry: boolean): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = this.open(originReq);
      if (originReq.onInterim) request.on('information', originReq.onInterim);
      request.setTimeout(this.options.timeoutMs, () => request.destroy(new UpstreamTimeout(this.options.timeoutMs)));
      request.once('response', (originRes) => {
        // Errors on the request after the head surface on the response stream instead.
        request.on('error', (error) => originRes.destroy(error));
        originRes.on('aborted', () => originRes.destroy(Object.assign(new Error('origin aborted'), { code: 'ECONNRESET' })));
        resolve(originRes);
      });
      request.once('error', (error: NodeJS.ErrnoException) => {
        // An idle keep-alive socket the origin has just closed fails on first use; the node docs
        // advise sending an idempotent request once more, on a new connection (`reusedSocket`).
        if (mayRetry && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          resolve(this.attempt(originReq, body, false));
          return;
        }
        reject(error);
      });
      if (!body) {
        request.end();
        return;
      }
      // Request bodies stream through; a client that goes away aborts the origin request.
      body.pipe(request);
      body.once('error', (error) => request.destroy(error));
      body.once('close', () => {
        if (!body.readableEnded) request.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' }));
      });
    });
  }

  /**
   * An Upgrade request (RFC 9110 §7.8, WebSocket): resolves with the origin's 101 and the
   * connection, now the caller's, or with the origin's ordinary answer when it declined.
   */
  upgrade(originReq: OriginRequest): Promise<UpgradeAnswer> {
    return new Promise((resolve, reject) => {
      const request = this.open(originReq);
      request.setTimeout(this.options.timeoutMs, () => request.destroy(new UpstreamTimeout(this.options.timeoutMs)));
      request.once('upgrade', (originRes: IncomingMessage, socket: Duplex, head: Buffer) => {
        // An open WebSocket may idle as long as its ends like (the request's timeout was for the answer).
        (socket as Socket).setTimeout(0);
        resolve({ upgraded: true, originRes, socket, head });
      });
      request.once('response', (originRes) => resolve({ upgraded: false, originRes }));
      request.once('error', reject);
      request.end();
    });
  }

  private open(originReq: OriginRequest): http.ClientRequest {
    const { url } = originReq;
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port ? Number(url.port) : secure ? 443 : 80;
    // Node skips `lookup` for literal addresses: those are checked here, names on resolution.
    this.options.guard.checkLiteral(host, port);
    // The Host field we set names the TLS server (SNI) too; node leaves SNI out for IP addresses.
    return (secure ? https : http).request({
      agent: secure ? this.httpsAgent : this.agent,
      host,
      port,
      lookup: this.options.guard.lookupFor(port),
      method: originReq.method,
      path: `${url.pathname}${url.search}`,
      headers: originReq.headers,
      setHost: false,
    });
  }

  close(): void {
    this.agent.destroy();
    this.httpsAgent.destroy();
  }
}

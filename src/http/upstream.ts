// The only module that talks to origins: one errno → error table, so a refused connection is a
// 502 and a silent origin a 504 on every path. Requests go through undici's dispatcher (one pool
// per origin, pipelining 1): about half the CPU of a node:http agent per exchange (docs/design.md,
// "The upstream client"). node:http stays for Upgrade and for origins whose answers undici's
// stricter parser refuses but node's accepts (an unsolicited 100, a 304 with a Content-Length).
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex, Readable } from 'node:stream';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { AbortTransfer, ProxyError } from '../errors.js';
import type { Guard } from '../guard/guard.js';
import { headersObject, OriginResponse, type BodySource, type InterimResponse } from './origin-response.js';
import { OriginShares, type Release } from './origin-shares.js';
import { httpsAgentOptions, tlsUpstreamError, type UpstreamTrust } from './upstream-tls.js';
import { connectThroughParent, parentConnectError, ParentFailure, type ParentConnectOptions } from '../parents/connect.js';
import type { Parent } from '../parents/pool.js';
import type { ParentRouter, Route } from '../parents/router.js';
import { BAN_BODY_BYTES, banReason, bodyBanReason, bodyMayBan } from '../parents/ban.js';
import type { RouteKey } from '../parents/session.js';

export { OriginResponse, type InterimResponse } from './origin-response.js';

export interface UpstreamOptions {
  timeoutMs: number;
  /** Connections per origin (--origin-connections). */
  maxSockets?: number;
  /** Exchanges one client may have open to one origin (--origin-connections-per-client); none: no limit. */
  perClient?: number;
  /** Checks every address a request would connect to (destination rules, own listeners). */
  guard: Guard;
  /** Roots for https:// origins (Node's by default; see upstream-tls.ts). */
  tls?: UpstreamTrust;
  /** Parent proxies (src/parents): which requests go through which parent. None: all direct. */
  parents?: ParentRouter;
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

/** undici's error codes → the node errno they stand for in ERRNO_TABLE. */
const UNDICI_CODES: Readonly<Record<string, string>> = {
  UND_ERR_SOCKET: 'ECONNRESET', // "other side closed" and friends
  UND_ERR_CONNECT_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_HEADERS_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_BODY_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'HPE_INVALID',
};

/** Requests sent once more when a reused keep-alive socket turns out to be closed (RFC 9110 §9.2.2). */
const RETRYABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** Tunnel agents kept (one per parent and session user name); past it the oldest is closed. */
const MAX_TUNNEL_AGENTS = 256;

/** Origins answered by node:http from now on (they sent what undici refuses); bounded, oldest out. */
const MAX_LENIENT_ORIGINS = 1000;

export class UpstreamTimeout extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
  constructor(ms: number) {
    super(`no data from the origin for ${ms} ms`);
  }
}

function codeOf(error: unknown): string {
  const { code = '', name = '' } = (error ?? {}) as { code?: string; name?: string };
  if (name === 'HTTPParserError') return 'HPE_INVALID';
  return UNDICI_CODES[code] ?? code;
}

/** Classify an upstream failure that happened before the response head reached the client. */
export function upstreamError(error: unknown, host: string): ProxyError {
  if (error instanceof ProxyError) return error; // already classified (a refused destination)
  const tlsFailure = tlsUpstreamError(error, host);
  if (tlsFailure) return tlsFailure;
  const code = codeOf(error);
  const row = ERRNO_TABLE[code as keyof typeof ERRNO_TABLE] ?? (code.startsWith('HPE_') ? ERRNO_TABLE.HPE_INVALID : undefined);
  if (row) return new ProxyError(row.status, row.code, `${row.text}: ${host}`);
  return new ProxyError(502, 'upstream_error', `upstream request to ${host} failed: ${code || (error as Error)?.message || 'unknown error'}`);
}

/** Classify a failure after the response head was sent: the transfer can only be cut. */
export function midBodyError(error: unknown, host: string): AbortTransfer {
  const code = codeOf(error) || 'ECONNRESET';
  return new AbortTransfer(code === 'UPSTREAM_TIMEOUT' ? 'upstream_timeout_mid_body' : 'upstream_reset_mid_body', `origin ${host} failed mid-body (${code})`);
}

export interface OriginRequest {
  url: URL;
  /** `url`'s `scheme://host[:port]` when the caller has it made already (the parsed target's): not built again. */
  origin?: string;
  method: string;
  headers: OutgoingHttpHeaders;
  /** Interim (1xx) responses before the final one (RFC 9110 §15.2), for relaying to the client. */
  onInterim?: (interim: InterimResponse) => void;
  /** The client whose share of the origin's connections this counts against (origin-shares.ts); none for the proxy's own. */
  client?: string;
  /** Who asks and in which session (src/parents/session.ts): for routing rules, sticky selection, user-name templates. */
  routeKey?: RouteKey;
  /**
   * Set by Upstream once per request (src/parents decides), together with the parent failover,
   * so a retry (keep-alive, node:http) keeps the same parent and adds no second failover.
   */
  route?: Route;
}

/** Every field of T, optional ones included: a copy made field by field cannot leave a new one behind. */
type EveryField<T> = { [K in keyof Required<T>]: T[K] };

/**
 * The request with its route. Field by field, not `{ ...originReq, route }`: on Node 20 a spread
 * followed by another property takes V8's slow path, about 3 µs each here, which was most of
 * what a request through a parent cost the proxy beyond a direct one (design-notes/parents.md).
 */
function routed(originReq: OriginRequest, route: Route): OriginRequest {
  const { url, origin, method, headers, onInterim, client, routeKey } = originReq;
  const copy: EveryField<OriginRequest> = { url, origin, method, headers, onInterim, client, routeKey, route };
  return copy;
}

export type UpgradeAnswer =
  | { upgraded: true; originRes: IncomingMessage; socket: Duplex; head: Buffer }
  | { upgraded: false; originRes: IncomingMessage };

/** How a request's promise is settled: the promise's own functions, or a meter around them. */
export interface Settle {
  resolve: (originRes: OriginResponse) => void;
  reject: (error: unknown) => void;
}

/**
 * Settles a request's promise, releasing the client's share of the origin (origin-shares.ts)
 * once the body has ended or failed, or at once when there is no answer. Methods, not closures:
 * called as `settle.resolve(…)`.
 */
export class Settlement implements Settle {
  constructor(
    protected readonly done: Settle['resolve'],
    protected readonly failed: Settle['reject'],
    protected readonly release: Release | undefined,
  ) {}

  resolve(originRes: OriginResponse): void {
    if (this.release) originRes.onSettled(this.release);
    this.done(originRes);
  }

  reject(error: unknown): void {
    this.release?.();
    this.failed(error);
  }
}

export class Upstream {
  /** node:http, for Upgrade and lenient origins. */
  readonly agent: http.Agent;
  /** https:// origins on node:http: kept alive and reused like http ones, TLS sessions resumed. */
  readonly httpsAgent: https.Agent;
  private readonly dispatcher: Agent;
  /** Connections to parent proxies: http:// requests in absolute form (RFC 9112 §3.2.2). */
  private readonly parentDispatcher: Agent | undefined;
  /** One agent per parent whose connections are tunnels through it (CONNECT or SOCKS5); made on first use. */
  private readonly tunnelAgents = new Map<string, Agent>();
  private readonly tlsOptions: https.AgentOptions;
  private readonly lenientOrigins = new Set<string>();
  readonly shares: OriginShares | undefined;

  constructor(readonly options: UpstreamOptions) {
    if (options.perClient !== undefined) this.shares = new OriginShares(options.perClient, options.timeoutMs);
    const maxSockets = options.maxSockets ?? 256;
    const pool = { keepAlive: true, maxSockets, maxFreeSockets: 64, scheduling: 'lifo' } as const;
    const tls = httpsAgentOptions(options.tls);
    this.tlsOptions = tls;
    this.agent = new http.Agent(pool);
    this.httpsAgent = new https.Agent({ ...pool, ...tls });
    this.dispatcher = new Agent({
      connections: maxSockets,
      pipelining: 1,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: guardedConnector(options, tls),
    });
    // Parents are the operator's own choice of address: they are not checked by the guard (the
    // target still is, as far as it is a literal; the parent resolves names).
    if (options.parents?.active) {
      this.parentDispatcher = new Agent({
        connections: maxSockets,
        pipelining: 1,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        connect: trackedConnector(options.parents, buildConnector({ timeout: options.timeoutMs, ...(tls.ca !== undefined && { ca: tls.ca as string[] }), rejectUnauthorized: tls.rejectUnauthorized } as buildConnector.BuildOptions)),
      });
    }
  }

  /**
   * Send a request (with the client's body streamed through when `body` is given) and resolve
   * with the response head; the body follows through `OriginResponse`. Silence longer than the
   * timeout before the head rejects (→ 504); mid-body it fails the body (→ the transfer is cut).
   */
  request(originReq: OriginRequest, body?: Readable): Promise<OriginResponse> {
    const { client, url } = originReq;
    // The parsed target's string where there is one: its hash, computed once, serves every lookup by origin.
    const origin = originReq.origin ?? originOf(url);
    if (client === undefined || !this.shares) return this.sendNow(originReq, body, origin);
    const release = this.shares.acquire(origin, client);
    if (typeof release === 'function') return this.sendNow(originReq, body, origin, release);
    return release.then((granted) => this.sendNow(originReq, body, origin, granted));
  }

  /** `release`: the client's share is held until the response's body has ended or failed. */
  private sendNow(originReq: OriginRequest, body: Readable | undefined, origin: string, release?: Release): Promise<OriginResponse> {
    return new Promise((resolve, reject) => {
      this.send(originReq, body, this.settleWith(resolve, reject, release), !body && RETRYABLE_METHODS.has(originReq.method), origin);
    });
  }

  /** The hook a subclass (the meter) replaces; one object per request, no extra promise. */
  protected settleWith(resolve: Settle['resolve'], reject: Settle['reject'], release: Release | undefined): Settle {
    return new Settlement(resolve, reject, release);
  }

  private send(originReq: OriginRequest, body: Readable | undefined, settle: Settle, mayRetry: boolean, origin = originReq.origin ?? originOf(originReq.url)): void {
    const { url } = originReq;
    try {
      // Node skips `lookup` for literal addresses: those are checked here, names on resolution.
      this.options.guard.checkLiteral(url.hostname, portOf(url));
    } catch (error) {
      return settle.reject(error);
    }
    if (originReq.route === undefined && this.options.parents) {
      let route: Route;
      try {
        route = this.options.parents.route(url, originReq.routeKey);
      } catch (error) {
        return settle.reject(error);
      }
      if (route.kind === 'parent') {
        settle = this.failover(originReq, body, settle, route);
        if (sendsAbsoluteForm(url, route.parent)) settle = parentAnswers(settle, route.parent);
      }
      originReq = routed(originReq, route);
    }
    if (this.lenientOrigins.has(origin)) return this.sendWithNode(originReq, body, settle, mayRetry);
    const exchange = new Exchange(this, originReq, body, settle, mayRetry, origin);
    const { dispatcher, dispatchOrigin, path, headers, reset } = this.dispatchPlan(originReq, origin);
    // Two literals rather than a conditional spread, which V8 builds on its slow path each time.
    if (!body) return void dispatcher.dispatch(reset ? { origin: dispatchOrigin, path, method: originReq.method, headers, reset } : { origin: dispatchOrigin, path, method: originReq.method, headers }, exchange);
    // Without a length the body goes chunked, as it came: undici would frame a stream that has
    // already ended with the length it buffered, so it gets an iterator, always chunked. undici
    // closes the connection after a body on a method that expects none (GET); our framing is
    // exact (invariant 1), so the connection stays in the pool (`reset: false`).
    const chunked = headers['content-length'] === undefined;
    dispatcher.dispatch({ origin: dispatchOrigin, path, method: originReq.method, headers, body: chunked ? (body[Symbol.asyncIterator]() as unknown as Readable) : body, reset }, exchange);
  }

  /**
   * Where undici sends the request. Direct: the origin, origin-form. Through a parent, http://
   * targets go to the parent in absolute form with the parent's Proxy-Authorization; https://
   * targets through a CONNECT tunnel to it (TLS to the origin inside, verified as direct). The
   * client's Proxy-Authorization never gets here (a hop-by-hop field, dropped by forwardHeaders).
   */
  private dispatchPlan(originReq: OriginRequest, origin: string): { dispatcher: Dispatcher; dispatchOrigin: string; path: string; headers: Record<string, string>; reset: boolean } {
    const { url, route } = originReq;
    const headers = originReq.headers as Record<string, string>;
    const originForm = `${url.pathname}${url.search}`;
    if (route?.kind !== 'parent') return { dispatcher: this.dispatcher, dispatchOrigin: origin, path: originForm, headers, reset: false };
    const { parent, pool, authorization } = route;
    const reset = pool.spec.newConnectionPerRequest;
    if (!sendsAbsoluteForm(url, parent)) return { dispatcher: this.tunnelAgent(route), dispatchOrigin: origin, path: originForm, headers, reset };
    // Object.assign, not a spread with one more field: the spread takes V8's slow path (see routed()).
    const withAuth = authorization ? Object.assign({}, headers, { 'proxy-authorization': authorization }) : headers;
    return { dispatcher: this.parentDispatcher!, dispatchOrigin: parentOrigin(parent), path: `${origin}${originForm}`, headers: withAuth, reset };
  }

  /**
   * A parent that fails the request (refuses, times out, 407, refuses the CONNECT) or answers
   * with a ban marker is cooled down, and the request goes once more through another parent of
   * the pool when that is safe: no request body (so nothing can be sent twice) and nothing
   * sent to the client yet (we are before the head). No other parent up: a 502 naming the pool.
   * A ban is never resolved, so it is never stored and never replaces an entry.
   */
  private failover(originReq: OriginRequest, body: Readable | undefined, settle: Settle, route: Extract<Route, { kind: 'parent' }>): Settle {
    const router = this.options.parents!;
    const retry = (failure: ProxyError): void => {
      router.failed(route.parent);
      let next: Route | undefined;
      try {
        next = body ? undefined : router.route(originReq.url, route.key, route.parent);
      } catch {
        next = undefined;
      }
      if (next?.kind === 'parent' && next.parent !== route.parent) {
        return this.send(routed(originReq, next), undefined, settle, false);
      }
      settle.reject(body ? failure : new ProxyError(502, 'parent_pool_down', `pool "${route.pool.name}" has no other parent up: ${failure.message}`));
    };
    const { tally } = route.parent;
    tally.requests++;
    return {
      resolve: (originRes) => {
        const markers = route.pool.spec.ban;
        const banned = (ban: string): void => {
          tally.bans++;
          originRes.destroy();
          retry(new ParentFailure(route.parent, 'parent_banned', `answered with a ban marker (${ban}) for ${originReq.url.host}`));
        };
        const ban = banReason(markers, originRes.statusCode, originRes.headers);
        if (ban) return banned(ban);
        if (originRes.statusCode === 304) tally.notModified++;
        if (!bodyMayBan(markers, originReq.method, originRes.statusCode, originRes.headers)) return settle.resolve(originRes);
        // A body marker: hold the answer until its first bytes are in (or its end, or the
        // upstream timeout: then what came is judged), and hand it on whole, peeked bytes included.
        const timer = setTimeout(() => stop(), this.options.timeoutMs);
        const stop = originRes.peekHead(BAN_BODY_BYTES, (head) => {
          clearTimeout(timer);
          const bodyBan = bodyBanReason(markers, head);
          if (bodyBan) return banned(bodyBan);
          settle.resolve(originRes);
        });
      },
      reject(error) {
        tally.errors++;
        if (error instanceof ParentFailure) return retry(error);
        settle.reject(error);
      },
    };
  }

  /** How parents are reached: the trust for https:// parents, and the guard's lookup for socks5:// names. */
  get parentConnect(): ParentConnectOptions {
    const { ca, rejectUnauthorized } = this.tlsOptions;
    return { timeoutMs: this.options.timeoutMs, ...(ca !== undefined && { ca: ca as string[] }), rejectUnauthorized: rejectUnauthorized !== false, lookup: (port) => this.options.guard.lookupFor(port) };
  }

  /**
   * The origin's pools for one parent and one set of credentials (a session's user name is an
   * exit of its own): each connection a tunnel through it, TLS to https:// origins inside
   * (verified as direct). At most MAX_TUNNEL_AGENTS, the oldest closed first.
   */
  private tunnelAgent(route: Extract<Route, { kind: 'parent' }>): Agent {
    const { parent, credentials } = route;
    const id = `${parent.label}\n${route.authorization ?? ''}`;
    let agent = this.tunnelAgents.get(id);
    if (agent) return agent;
    if (this.tunnelAgents.size >= MAX_TUNNEL_AGENTS) {
      const [oldestId, oldest] = this.tunnelAgents.entries().next().value!;
      this.tunnelAgents.delete(oldestId);
      void oldest.close().catch(() => {});
    }
    const { ca, rejectUnauthorized } = this.tlsOptions;
    const tlsInside = buildConnector({ timeout: this.options.timeoutMs, ...(ca !== undefined && { ca: ca as string[] }), rejectUnauthorized } as buildConnector.BuildOptions);
    const connect: buildConnector.connector = (connectOptions, callback) => {
      const port = Number(connectOptions.port) || (connectOptions.protocol === 'https:' ? 443 : 80);
      const host = connectOptions.hostname.replace(/^\[|\]$/g, '');
      connectThroughParent(parent, credentials, host, port, this.parentConnect).then(
        (socket) => {
          if (connectOptions.protocol !== 'https:') return callback(null, socket);
          tlsInside({ ...connectOptions, httpSocket: socket } as buildConnector.Options, callback);
        },
        (error: Error) => callback(error, null),
      );
    };
    agent = new Agent({ connections: this.options.maxSockets ?? 256, pipelining: 1, headersTimeout: this.options.timeoutMs, bodyTimeout: this.options.timeoutMs, connect });
    this.tunnelAgents.set(id, agent);
    return agent;
  }

  /** Called by an exchange whose origin sent what only node's parser accepts. */
  markLenient(origin: string): void {
    if (this.lenientOrigins.size >= MAX_LENIENT_ORIGINS) this.lenientOrigins.delete(this.lenientOrigins.values().next().value!);
    this.lenientOrigins.add(origin);
  }

  /** The undici exchange failed before its head: try again once, here or on node:http. */
  retry(originReq: OriginRequest, settle: Settle, onNode: boolean): void {
    if (onNode) this.sendWithNode(originReq, undefined, settle, false);
    else this.send(originReq, undefined, settle, false);
  }

  private sendWithNode(originReq: OriginRequest, body: Readable | undefined, settle: Settle, mayRetry: boolean): void {
    let request: http.ClientRequest;
    try {
      // node chunks a streamed body only for methods it expects one on (not GET): say so.
      const chunked = body && originReq.headers['content-length'] === undefined;
      request = this.open(chunked ? { ...originReq, headers: { ...originReq.headers, 'transfer-encoding': 'chunked' } } : originReq);
    } catch (error) {
      return settle.reject(error);
    }
    if (originReq.onInterim) request.on('information', originReq.onInterim);
    request.setTimeout(this.options.timeoutMs, () => request.destroy(new UpstreamTimeout(this.options.timeoutMs)));
    request.once('response', (res: IncomingMessage) => settle.resolve(carriedBy(fromIncoming(request, res), originReq.route)));
    request.once('error', (error: NodeJS.ErrnoException) => {
      // An idle keep-alive socket the origin has just closed fails on first use; the node docs
      // advise sending an idempotent request once more, on a new connection (`reusedSocket`).
      if (mayRetry && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) return this.sendWithNode(originReq, undefined, settle, false);
      settle.reject(error);
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
  }

  /**
   * An Upgrade request (RFC 9110 §7.8, WebSocket): resolves with the origin's 101 and the
   * connection, now the caller's, or with the origin's ordinary answer when it declined.
   */
  upgrade(originReq: OriginRequest): Promise<UpgradeAnswer> {
    return new Promise((resolve, reject) => {
      const route = originReq.route ?? this.options.parents?.route(originReq.url, originReq.routeKey);
      const request = this.open(route ? { ...originReq, route } : originReq);
      request.setTimeout(this.options.timeoutMs, () => request.destroy(new UpstreamTimeout(this.options.timeoutMs)));
      request.once('upgrade', (originRes: IncomingMessage, socket: Duplex, head: Buffer) => {
        // An open WebSocket may idle as long as its ends like (the request's timeout was for the answer).
        (socket as Socket).setTimeout(0);
        resolve({ upgraded: true, originRes, socket, head });
      });
      request.once('response', (originRes) => resolve({ upgraded: false, originRes }));
      request.once('error', (error) => {
        if (error instanceof ParentFailure) this.options.parents?.failed(error.parent);
        reject(error);
      });
      request.end();
    });
  }

  private open(originReq: OriginRequest): http.ClientRequest {
    const { url, route } = originReq;
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = portOf(url);
    this.options.guard.checkLiteral(host, port);
    if (route?.kind === 'parent') return this.openThroughParent(originReq, route);
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

  /** node:http through a parent: absolute form for http:// targets (RFC 9112 §3.2.2), else a tunnel with TLS inside for https://. */
  private openThroughParent(originReq: OriginRequest, route: Extract<Route, { kind: 'parent' }>): http.ClientRequest {
    const { url } = originReq;
    const { parent, authorization, credentials } = route;
    const secure = url.protocol === 'https:';
    const request = { method: originReq.method, headers: originReq.headers, setHost: false };
    // An upgrade goes through a tunnel too: after the 101 the connection is the client's alone.
    if (sendsAbsoluteForm(url, parent) && originReq.headers['upgrade'] === undefined) {
      const tlsToParent = parent.spec.scheme === 'https';
      const toParent = (tlsToParent ? https : http).request({
        ...request,
        agent: tlsToParent ? this.httpsAgent : this.agent,
        host: parent.spec.host,
        port: parent.spec.port,
        path: url.href,
        headers: authorization ? { ...originReq.headers, 'proxy-authorization': authorization } : originReq.headers,
      });
      toParent.once('socket', (socket: Socket) => parent.tally.track(socket));
      return toParent;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = portOf(url);
    const { ca, rejectUnauthorized } = this.tlsOptions;
    // No agent (node uses createConnection only then): each such request (an upgrade, a lenient origin) gets its own tunnel.
    return (secure ? https : http).request({
      ...request,
      host,
      port,
      path: `${url.pathname}${url.search}`,
      createConnection: ((_options: unknown, oncreate: (error: Error | null, socket?: Duplex) => void) => {
        connectThroughParent(parent, credentials, host, port, this.parentConnect).then((socket) => {
          if (!secure) {
            oncreate(null, socket);
            // The tunnel comes paused (nothing of the origin's is lost); node attaches its reader on the next tick.
            return void process.nextTick(() => socket.resume());
          }
          const secured = tls.connect({ socket, ...(net.isIP(host) === 0 && { servername: host }), ...(ca !== undefined && { ca: ca as string[] }), rejectUnauthorized, ALPNProtocols: ['http/1.1'] });
          secured.once('secureConnect', () => oncreate(null, secured));
          secured.once('error', (error) => oncreate(error));
        }, (error: Error) => oncreate(error));
        return undefined;
      }) as unknown as http.RequestOptions['createConnection'],
    });
  }

  close(): void {
    void this.dispatcher.destroy().catch(() => {});
    void this.parentDispatcher?.destroy().catch(() => {});
    for (const agent of this.tunnelAgents.values()) void agent.destroy().catch(() => {});
    this.agent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * A parent that gets the request in absolute form fails it in its own ways: a connection it
 * refuses, a TLS check, or a 407 for our credentials, are the parent's failure (502 naming
 * the parent), not the origin's. Other statuses are the origin's answer, relayed.
 */
function parentAnswers(settle: Settle, parent: Parent): Settle {
  return {
    resolve(originRes) {
      if (originRes.statusCode !== 407) return settle.resolve(originRes);
      originRes.resume();
      settle.reject(new ParentFailure(parent, 'parent_auth_failed', 'refused our credentials (407)'));
    },
    reject(error) {
      const { code = '' } = (error ?? {}) as { code?: string };
      const beforeSending = error instanceof ProxyError || /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|UND_ERR_CONNECT_TIMEOUT|ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH)/.test(code);
      settle.reject(beforeSending && !(error instanceof ProxyError) ? parentConnectError(parent, error as NodeJS.ErrnoException) : error);
    },
  };
}

/** undici's connector to parents, each socket counted on its parent's tally (parents/accounting.ts). */
function trackedConnector(router: ParentRouter, connect: buildConnector.connector): buildConnector.connector {
  const byAddress = new Map<string, Parent>();
  for (const pool of router.pools.values()) for (const parent of pool.parents) if (!byAddress.has(parent.label)) byAddress.set(parent.label, parent);
  return (options, callback) =>
    connect(options, (error, socket) => {
      const host = options.hostname.replace(/^\[|\]$/g, '');
      const label = `${options.protocol.slice(0, -1)}://${host.includes(':') ? `[${host}]` : host}:${options.port || (options.protocol === 'https:' ? 443 : 80)}`;
      if (socket) byAddress.get(label)?.tally.track(socket as Socket);
      if (error) callback(error, null);
      else callback(null, socket!);
    });
}

/** http:// targets go to an http(s) parent as absolute-form requests; everything else through a tunnel. */
function sendsAbsoluteForm(url: URL, parent: Parent): boolean {
  return url.protocol === 'http:' && (parent.spec.scheme === 'http' || parent.spec.scheme === 'https');
}

function parentOrigin(parent: Parent): string {
  const { scheme, host, port } = parent.spec;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `scheme://host[:port]`, as undici's pools are keyed. */
function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/**
 * undici's connector with the guard's lookup for the port (names are checked on the addresses
 * they resolve to), the connect timeout, and the trust for https:// origins. One per port.
 */
function guardedConnector(options: UpstreamOptions, tls: https.AgentOptions): buildConnector.connector {
  const connectors = new Map<string, buildConnector.connector>();
  return (connectOptions, callback) => {
    const port = Number(connectOptions.port) || (connectOptions.protocol === 'https:' ? 443 : 80);
    const key = `${connectOptions.protocol}${port}`;
    let connect = connectors.get(key);
    if (!connect) {
      connect = buildConnector({
        timeout: options.timeoutMs,
        lookup: options.guard.lookupFor(port),
        ...(connectOptions.protocol === 'https:' && { ca: tls.ca as string[] | undefined, rejectUnauthorized: tls.rejectUnauthorized }),
      } as buildConnector.BuildOptions);
      connectors.set(key, connect);
    }
    return connect(connectOptions, callback);
  };
}

/** Record on the response which parent carried it (for the access log and the counters). */
function carriedBy(originRes: OriginResponse, route: Route | undefined): OriginResponse {
  if (route?.kind === 'parent') originRes.parent = { pool: route.pool.name, label: route.parent.label };
  return originRes;
}

/** The response head's bytes on the wire, near enough for the metrics. */
function headBytes(rawHeaders: readonly string[], statusMessage: string): number {
  let bytes = 17 + statusMessage.length;
  for (const field of rawHeaders) bytes += field.length + 2;
  return bytes;
}

/** A node:http response as an OriginResponse (lenient origins). */
function fromIncoming(request: http.ClientRequest, res: IncomingMessage): OriginResponse {
  const originRes = new OriginResponse(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders, res.headers, {
    resume: () => res.resume(),
    abort: (error) => res.destroy(error),
  });
  originRes.receivedBytes = headBytes(res.rawHeaders, originRes.statusMessage);
  // Errors on the request after the head surface on the response instead.
  request.on('error', (error) => originRes.fail(error));
  res.on('data', (chunk: Buffer) => {
    if (!originRes.push(chunk)) res.pause();
  });
  res.on('end', () => originRes.finish());
  res.on('error', (error) => originRes.fail(error));
  res.on('close', () => {
    if (!res.complete) originRes.fail(res.errored ?? Object.assign(new Error('origin aborted'), { code: 'ECONNRESET' }));
  });
  return originRes;
}

/** One request on undici's dispatcher (its handler interface: onConnect … onComplete / onError). */
class Exchange implements Dispatcher.DispatchHandler, BodySource {
  private abortExchange: ((error?: Error) => void) | null = null;
  private resumeBody: (() => void) | null = null;
  private originRes: OriginResponse | null = null;

  constructor(
    private readonly upstream: Upstream,
    private readonly originReq: OriginRequest,
    private readonly body: Readable | undefined,
    private readonly settle: Settle,
    private readonly mayRetry: boolean,
    private readonly origin: string,
  ) {}

  onConnect(abort: (error?: Error) => void): void {
    this.abortExchange = abort;
  }

  // The response body's source (origin-response.ts): the exchange itself, no object per response.
  resume(): void {
    this.resumeBody?.();
  }

  abort(error: Error): void {
    this.abortExchange?.(error);
  }

  onHeaders(statusCode: number, rawBuffers: Buffer[], resume: () => void, statusText: string): boolean {
    // Field bytes as node gives them: one char per byte (latin1), so nothing is re-encoded.
    const rawHeaders = new Array<string>(rawBuffers.length);
    for (let i = 0; i < rawBuffers.length; i++) rawHeaders[i] = rawBuffers[i]!.toString('latin1');
    if (statusCode < 200) {
      this.originReq.onInterim?.({ statusCode, headers: headersObject(rawHeaders) });
      return true;
    }
    const headers = headersObject(rawHeaders);
    // node's parser refuses these before the head (RFC 9112 §6.3: request smuggling); undici
    // would only notice at the end of the body, after the client had the head.
    if (headers['content-length'] !== undefined && (headers['transfer-encoding'] !== undefined || repeats(rawHeaders, 'content-length'))) {
      this.abortExchange?.(Object.assign(new Error('Content-Length with Transfer-Encoding, or twice'), { code: 'HPE_UNEXPECTED_CONTENT_LENGTH' }));
      return false;
    }
    this.resumeBody = resume;
    const originRes = new OriginResponse(statusCode, statusText, rawHeaders, headers, this);
    originRes.receivedBytes = headBytes(rawHeaders, statusText);
    carriedBy(originRes, this.originReq.route);
    this.originRes = originRes;
    this.settle.resolve(originRes);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.originRes!.push(chunk);
  }

  onComplete(): void {
    // Trailer fields are not relayed: the client's response is re-framed by node, and a
    // cached body has none (RFC 9110 §6.5: a recipient may discard them).
    this.originRes?.finish();
  }

  onError(error: Error): void {
    const originRes = this.originRes;
    if (originRes) {
      // RFC 9110 §8.6: a 304 (or 204) may carry the Content-Length of the response it stands
      // for; node ignores it, undici calls the empty body short. The answer is complete.
      if ((originRes.statusCode === 304 || originRes.statusCode === 204) && codeOf(error) === 'HPE_INVALID') {
        this.upstream.markLenient(this.origin);
        return originRes.finish();
      }
      return originRes.fail(normalised(error, this.upstream.options.timeoutMs));
    }
    const code = (error as { code?: string }).code;
    // An interim 100 nobody asked for: node skips it, undici refuses the response.
    if (code === 'UND_ERR_SOCKET' && error.message === 'bad response') {
      this.upstream.markLenient(this.origin);
      if (!this.body) return this.upstream.retry(this.originReq, this.settle, true);
      // A request body cannot be sent twice: this one fails, the origin's next go through node.
      return this.settle.reject(Object.assign(new Error('an interim response undici refuses'), { code: 'HPE_INVALID_STATUS' }));
    } else if (this.mayRetry && isDeadKeepAlive(error)) {
      return this.upstream.retry(this.originReq, this.settle, false);
    }
    this.settle.reject(normalised(error, this.upstream.options.timeoutMs));
  }
}

/**
 * The origin closed a kept-alive connection as our request went out: undici reports "other side
 * closed" with the socket's counters (bytes read before: the connection had been used), or the
 * reset itself.
 */
function isDeadKeepAlive(error: Error): boolean {
  const { code, socket } = error as { code?: string; socket?: { bytesRead?: number } };
  if (code === 'UND_ERR_SOCKET') return error.message !== 'bad response' && (socket?.bytesRead ?? 0) > 0;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function normalised(error: Error, timeoutMs: number): Error {
  return codeOf(error) === 'UPSTREAM_TIMEOUT' ? new UpstreamTimeout(timeoutMs) : error;
}

function repeats(rawHeaders: readonly string[], name: string): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name && ++seen > 1) return true;
  return false;
}

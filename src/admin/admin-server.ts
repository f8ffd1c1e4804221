// The admin listener: its own node:http server (loopback by default), a Host check against its
// own addresses (host-check.ts), an optional bearer token (required off loopback), JSON in and
// out, and the route table. Every failure is a ProxyError answered as { "error": "<reason>" }:
// 421 / 403 / 401 / 404 / 405 / 408 / 413 / 400 here, the rest from the routes.
// What the routes do is the job of policies-routes.ts, metrics-routes.ts, cache-routes.ts,
// changes-routes.ts and status-page.ts (GET /, and the cookie a browser uses instead of the header).
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminConfig } from '../config/types.js';
import { ProxyError } from '../errors.js';
import type { Proxy } from '../index.js';
import type { Logger } from '../observe/log.js';
import { AdminHostCheck, requireTokenOffLoopback } from './host-check.js';
import { redactUrl } from '../observe/redact.js';
import { drainServer, trackConnections } from '../server/drain.js';
import { createCacheRoutes } from './cache-routes.js';
import { createChangesRoutes } from './changes-routes.js';
import { createMetricsRoutes } from './metrics-routes.js';
import { createParentsRoutes } from './parents-routes.js';
import { createPolicyRoutes } from './policies-routes.js';
import { createRuleRoutes } from './rules-routes.js';
import { createStatusRoutes, hasSessionCookie, prepareSession, tokenExchange } from './status-page.js';

/** Request bodies are small JSON documents; anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Policy and rule documents nest four levels deep; past this a body is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;
/** Methods a browser sends cross-site without asking (no preflight) change nothing here. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export type AdminMethod = 'GET' | 'PUT' | 'DELETE';

export interface AdminRequest {
  /** Path segments captured by the route's pattern, percent-decoded. */
  params: string[];
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body; ProxyError(400) when it is not JSON. */
  json(): Promise<unknown>;
}

export interface AdminReply {
  status: number;
  body: unknown;
  /** Send `body` (a string) as is with this Content-Type instead of as JSON (/metrics). */
  contentType?: string;
  /** A long-lived answer (Server-Sent Events): it writes the response itself, after the checks. */
  stream?: (clientRes: ServerResponse) => void;
  /** Extra response fields (the status page's Content-Security-Policy, a redirect's Location). */
  headers?: Record<string, string>;
}

export interface AdminRoute {
  /** Matched against the raw (still encoded) path; capture groups become `params`. */
  pattern: RegExp;
  methods: Partial<Record<AdminMethod, (req: AdminRequest) => Promise<AdminReply>>>;
}

export interface AdminServer {
  url: string;
  /** As the proxy's close (server/drain.ts): answers in flight get `drainTimeoutMs` to finish; 0 cuts them. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Throws ConfigError (before listening) for a non-loopback --admin-host without a token. */
export async function startAdminServer(proxy: Proxy, config: AdminConfig, logger: Logger): Promise<AdminServer> {
  requireTokenOffLoopback(config);
  if (config.token !== undefined) await prepareSession(config.token);
  const status = createStatusRoutes(proxy);
  const routes = [
    ...status.routes,
    ...createPolicyRoutes(proxy, logger),
    ...createRuleRoutes(proxy, logger),
    ...createParentsRoutes(proxy),
    ...createMetricsRoutes(proxy),
    ...createCacheRoutes(proxy, logger),
    ...createChangesRoutes(proxy),
  ];
  let hostCheck: AdminHostCheck | undefined;
  // A request body must arrive within --headers-timeout (readJson answers 408); node's own
  // request timeout, later, closes a connection whose unread body never ends.
  const bodyTimeoutMs = proxy.ctx.config.headersTimeoutMs;
  const server = http.createServer({ requestTimeout: 2 * bodyTimeoutMs, headersTimeout: bodyTimeoutMs }, (clientReq, clientRes) => {
    const address = server.address() as AddressInfo;
    hostCheck ??= new AdminHostCheck(config.host, address.address, address.port);
    void handle(routes, config, hostCheck, clientReq, bodyTimeoutMs)
      .catch((error: unknown) => failure(error))
      .then((reply) => {
        send(clientRes, reply);
        const level = reply.status >= 500 ? 'warn' : isPoll(clientReq, reply) ? 'debug' : 'info';
        logger[level]('admin', { method: clientReq.method, path: redactUrl(clientReq.url ?? ''), status: reply.status });
      });
  });
  const connections = trackConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  proxy.ctx.guard.addOwnListener(address.port); // never reachable through the proxy (invariant 3)
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: async (drainTimeoutMs = 0) => {
      status.close();
      await drainServer(server, drainTimeoutMs, connections).done;
    },
  };
}

/** Reads that pollers repeat (the status page every 2 s, Prometheus every scrape): no event worth a line. */
const POLLED = new Set(['/metrics', '/stats', '/stats/history', '/status/chart.svg']);

function isPoll(clientReq: IncomingMessage, reply: AdminReply): boolean {
  return clientReq.method === 'GET' && reply.status < 400 && POLLED.has((clientReq.url ?? '').split('?')[0]!);
}

async function handle(routes: AdminRoute[], config: AdminConfig, hostCheck: AdminHostCheck, clientReq: IncomingMessage, bodyTimeoutMs: number): Promise<AdminReply> {
  // Before the token: a page that rebinds its name to this address learns nothing, not even a 401.
  // RFC 9110 §15.5.20: 421 is the answer of a server not configured for the name it was asked.
  if (!hostCheck.accepts(clientReq.headers.host)) {
    const got = clientReq.headers.host === undefined ? 'none' : JSON.stringify(clientReq.headers.host);
    throw new ProxyError(421, 'misdirected_request', `Host: expected ${hostCheck.expected.join(' or ')}, got ${got} (the admin API answers only to its own addresses)`);
  }
  // A page on another site can send a PUT or DELETE here that needs no preflight (a form, or a
  // fetch with a simple content type); browsers name the page in Origin (RFC 6454 §7.3). CLI
  // clients send none: the token alone decides for them.
  const origin = clientReq.headers.origin;
  if (origin !== undefined && !SAFE_METHODS.has(clientReq.method ?? '') && !isOwnOrigin(origin, hostCheck)) {
    throw new ProxyError(403, 'cross_origin', `Origin: expected http://${hostCheck.expected.join(' or http://')} for ${clientReq.method}, got ${JSON.stringify(origin)}`);
  }
  const url = requestUrl(clientReq.url);
  if (config.token !== undefined) {
    const exchange = tokenExchange(clientReq.method, url, config.token);
    if (exchange) return exchange;
    // The status page's cookie stands in for the header on reads only (status-page.ts).
    const readWithCookie = clientReq.method === 'GET' && clientReq.headers['authorization'] === undefined && hasSessionCookie(clientReq.headers.cookie, config.token);
    if (!readWithCookie) checkToken(clientReq.headers['authorization'], config.token);
  }
  for (const route of routes) {
    const match = route.pattern.exec(url.pathname);
    if (!match) continue;
    const method = clientReq.method as AdminMethod;
    const run = route.methods[method];
    if (!run) {
      const allow = Object.keys(route.methods).join(', ');
      throw new ProxyError(405, 'method_not_allowed', `${clientReq.method} is not allowed on ${url.pathname}; use ${allow}`, { allow });
    }
    return run({ params: match.slice(1).map((p) => decode(p ?? '')), query: url.searchParams, headers: clientReq.headers, json: () => readJson(clientReq, bodyTimeoutMs) });
  }
  throw new ProxyError(404, 'not_found', `no admin route ${url.pathname}; see GET /policies`);
}

/**
 * The request-target as a URL: origin-form is a path (`//x` is not an authority), absolute-form
 * is accepted as RFC 9112 §3.2.2 asks. Unparseable is a 400, never a 500 before the token check.
 */
function requestUrl(target: string | undefined): URL {
  const text = target ?? '/';
  try {
    return text.startsWith('/') ? new URL(`http://admin${text}`) : new URL(text, 'http://admin');
  } catch {
    throw new ProxyError(400, 'bad_request', 'malformed request-target');
  }
}

// RFC 6750 §3: a missing or wrong token is a 401 with a Bearer challenge.
function checkToken(authorization: string | undefined, token: string): void {
  const challenge = { 'www-authenticate': 'Bearer realm="etag-proxy admin"' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw new ProxyError(401, 'unauthorized', 'this admin API requires Authorization: Bearer <token> (in a browser, open /?token=<token> once)', challenge);
  // Digests have one length whatever the token's, so neither the comparison nor its early exit
  // tells a caller how long the token is.
  const given = createHash('sha256').update(match[1]!).digest();
  const expected = createHash('sha256').update(token).digest();
  if (!timingSafeEqual(given, expected)) {
    throw new ProxyError(401, 'unauthorized', 'wrong admin token', { ...challenge, 'www-authenticate': `${challenge['www-authenticate']}, error="invalid_token"` });
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ProxyError(400, 'bad_request', `path: ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

/** Is `origin` (an Origin field) the admin listener itself, by one of the names its Host check accepts? */
function isOwnOrigin(origin: string, hostCheck: AdminHostCheck): boolean {
  let url: URL;
  try {
    url = new URL(origin); // `null` (sandboxed frames, file: pages) does not parse: never ours
  } catch {
    return false;
  }
  return url.protocol === 'http:' && hostCheck.accepts(url.host);
}

async function readJson(clientReq: IncomingMessage, timeoutMs: number): Promise<unknown> {
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // A body trickled in a byte at a time would hold this request (and its route) open forever.
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            clientReq.removeAllListeners('data').pause();
            reject(new ProxyError(408, 'request_timeout', `body: did not arrive within ${timeoutMs} ms (--headers-timeout)`, { connection: 'close' }));
          }, timeoutMs)
        : undefined;
    // Past the limit the rest is read and dropped rather than the socket destroyed, so the
    // client (still sending) gets to read the 413.
    clientReq.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    clientReq.on('end', () => {
      clearTimeout(timer);
      if (size > MAX_BODY_BYTES) reject(new ProxyError(413, 'body_too_large', `body: larger than ${MAX_BODY_BYTES} bytes`));
      else resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    clientReq.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  if (!text.trim()) throw new ProxyError(400, 'bad_request', 'body: expected a JSON document, got an empty body');
  // JSON.parse nests without limit; the code that reads the document (and its error messages)
  // recurses and would overflow the stack on `[[[[…`: refuse it before parsing.
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw new ProxyError(400, 'bad_request', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ProxyError(400, 'bad_request', `body: not valid JSON: ${(error as Error).message}`);
  }
}

/** Does the JSON text open more than `limit` arrays / objects inside one another? (strings skipped) */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function failure(error: unknown): AdminReply {
  if (error instanceof ProxyError) return { status: error.status, body: { error: error.message }, headers: error.headers };
  return { status: 500, body: { error: `internal error: ${(error as Error)?.message ?? String(error)}` } };
}

function send(clientRes: ServerResponse, reply: AdminReply): void {
  if (clientRes.headersSent) {
    clientRes.destroy();
    return;
  }
  if (reply.stream) {
    reply.stream(clientRes);
    return;
  }
  const text = reply.contentType ? String(reply.body) : `${JSON.stringify(reply.body, null, 2)}\n`;
  clientRes.writeHead(reply.status, {
    ...reply.headers,
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  clientRes.end(text);
}

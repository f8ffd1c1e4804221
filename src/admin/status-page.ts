// GET / on the admin listener: the live status page (status-html.ts), its chart
// (GET /status/chart.svg) and the rate history behind it (GET /stats/history, JSON). And how a
// browser gets in when the API has a token: it cannot send `Authorization` on a navigation, so
// `GET /?token=<token>` once answers 303 to `/` with an HttpOnly, SameSite=Strict cookie. The
// cookie holds a value derived from the token (never the token; slowly), and admin-server.ts accepts it
// for GET requests only: it can read what the page shows, never change a rule or purge.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Proxy } from '../index.js';
import { RateHistory, outcomeTotals } from '../observe/rate-history.js';
import { statsOf } from '../observe/stats.js';
import { snapshot } from '../observe/cluster-metrics.js';
import { ProxyError } from '../errors.js';
import type { ChangeEvent } from '../store/types.js';
import type { AdminReply, AdminRoute } from './admin-route.js';
import { rateChartSvg } from './status-chart.js';
import { CHANGES_SHOWN, statusPageHtml } from './status-html.js';

export const SESSION_COOKIE = 'etag_proxy_admin';
/** The change history the page starts with: this far back, the latest CHANGES_SHOWN of it. */
const CHANGES_BACK_MS = 3600_000;

// The cookie's value for this token: derived, so a stolen cookie is not the bearer token. And
// derived slowly (scrypt), since a cookie travels where the token never does (browsers send it to
// every port of the admin's host), and a fast digest would let its finder guess a weak token
// offline, turning read access into write access. Deterministic, so every worker accepts it;
// computed once per token, off the event loop at start (prepareSession, about 0.1 s of CPU).
const SCRYPT = { salt: 'etag-proxy status page', length: 32, options: { N: 1 << 14, r: 8, p: 1 } } as const;
const derived = new Map<string, Buffer>();

function sessionValue(token: string): Buffer {
  let value = derived.get(token);
  if (!value) {
    value = scryptSync(token, SCRYPT.salt, SCRYPT.length, SCRYPT.options);
    derived.set(token, value);
  }
  return value;
}

/** Derive the cookie's value before the first request needs it (admin-server.ts, at start). */
export async function prepareSession(token: string): Promise<void> {
  if (derived.has(token)) return;
  const value = await new Promise<Buffer>((resolve, reject) =>
    scrypt(token, SCRYPT.salt, SCRYPT.length, SCRYPT.options, (error, key) => (error ? reject(error) : resolve(key))),
  );
  derived.set(token, value);
}

const sameDigest = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/** Does the Cookie header carry the status page's session for this token? */
export function hasSessionCookie(cookieHeader: string | undefined, token: string): boolean {
  if (!cookieHeader) return false;
  const expected = sessionValue(token);
  for (const part of cookieHeader.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value !== undefined && sameDigest(Buffer.from(value, 'base64url'), expected)) return true;
  }
  return false;
}

/**
 * `GET /?token=…`: the token exchanged for the cookie (a 303 to `/`, so the token leaves the
 * address bar and history). undefined when the request is not such an exchange.
 */
export function tokenExchange(method: string | undefined, url: URL, token: string): (AdminReply & { headers: Record<string, string> }) | undefined {
  const given = url.searchParams.get('token');
  if (method !== 'GET' || url.pathname !== '/' || given === null) return undefined;
  if (!sameDigest(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest())) {
    throw new ProxyError(401, 'unauthorized', 'wrong admin token', { 'www-authenticate': 'Bearer realm="etag-proxy admin", error="invalid_token"' });
  }
  const cookie = `${SESSION_COOKIE}=${sessionValue(token).toString('base64url')}; Path=/; HttpOnly; SameSite=Strict`;
  return { status: 303, body: { see: '/' }, headers: { location: '/', 'set-cookie': cookie } };
}

// Inline script and style run only with this response's nonce; nothing loads from elsewhere.
const csp = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

export function createStatusRoutes(proxy: Proxy): { routes: AdminRoute[]; close(): void } {
  const history = new RateHistory(outcomeTotals(proxy.ctx.metrics)).start();
  const startedAt = Date.now();

  async function latestChanges(): Promise<{ changes: ChangeEvent[]; available: boolean }> {
    const log = proxy.ctx.backend.changes;
    if (!log) return { changes: [], available: false };
    try {
      const cursor = await log.cursorAt(Date.now() - CHANGES_BACK_MS);
      const events = await log.after(cursor, 1000);
      return { changes: events.slice(-CHANGES_SHOWN).reverse(), available: true };
    } catch {
      return { changes: [], available: true }; // store down: the stream fills in once it is back
    }
  }

  async function page(): Promise<AdminReply> {
    const [snap, changes] = await Promise.all([snapshot(proxy.ctx.metrics), latestChanges()]);
    const nonce = randomBytes(16).toString('base64');
    const html = statusPageHtml({
      stats: { ...statsOf(snap.json), processes: snap.processes },
      rules: proxy.policies.rules,
      flags: proxy.policies.flags,
      crawlRules: proxy.policies.crawlRules,
      changes: changes.changes,
      changeHistory: changes.available,
      topHostsLimit: proxy.ctx.config.metricsTopHosts,
      startedAt,
      nonce,
    });
    return { status: 200, body: html, contentType: 'text/html; charset=utf-8', headers: { 'content-security-policy': csp(nonce), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' } };
  }

  return {
    routes: [
      { pattern: /^\/$/, methods: { GET: page } },
      {
        pattern: /^\/status\/chart\.svg$/,
        methods: { GET: async () => ({ status: 200, body: rateChartSvg(history.toJSON(), Date.now()), contentType: 'image/svg+xml; charset=utf-8' }) },
      },
      { pattern: /^\/stats\/history$/, methods: { GET: async () => ({ status: 200, body: history.toJSON() }) } },
    ],
    close: () => history.stop(),
  };
}

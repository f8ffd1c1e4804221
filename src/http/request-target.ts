// Request-target forms (RFC 9112 §3.2): absolute-form for proxied requests, authority-form for
// CONNECT, origin-form for requests addressed to the proxy itself. Malformed targets are 400s.
import { boundedMemo } from '../bounded-memo.js';
import { ProxyError } from '../errors.js';

/**
 * An absolute-form target. `origin`: the URL's `scheme://host[:port]`, made once with the parse
 * (upstream requests are keyed by it). `key`: its cache key when no query rule applies, set by
 * the pipeline (pipeline/cache-key.ts) the first time it is needed and kept with the memoised target.
 */
export type AbsoluteTarget = { form: 'absolute'; url: URL; origin: string; key: string | undefined };

export type RequestTarget =
  | AbsoluteTarget
  | { form: 'authority'; host: string; port: number }
  | { form: 'origin'; path: string };

// Scrapers and pollers ask for the same URLs over and over: parse each once (an LRU of the
// 10,000 most recent, within about 8 MiB). The parsed URLs are shared, so nothing may modify them
// after parsing. A URL object holds its href and offsets: about twice the text and 300 bytes.
const recentTargets = boundedMemo<RequestTarget>('request-targets', 10_000, 8 * 1024 * 1024, (parsed) => (parsed.form === 'absolute' ? 2 * parsed.url.href.length + 300 : 0));

/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 characters as text. */
export const MAX_HOST_CHARS = 253;

export function parseRequestTarget(method: string, target: string | undefined): RequestTarget {
  if (!target) throw new ProxyError(400, 'bad_target', 'missing request-target');
  if (method === 'CONNECT') return parseAuthority(target);
  if (target.startsWith('/')) return { form: 'origin', path: target };
  let parsed = recentTargets.get(target);
  if (!parsed) {
    parsed = parseAbsolute(target);
    recentTargets.set(target, parsed);
  }
  return parsed;
}

function parseAbsolute(target: string): RequestTarget {
  // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid; the WHATWG parser would
  // quietly read `http:///127.0.0.1:9/` as `http://127.0.0.1:9/`.
  if (/^[a-z][a-z0-9+.-]*:\/\/(?:[/?#]|$)/i.test(target) || /^[a-z][a-z0-9+.-]*:(?!\/\/)/i.test(target)) {
    throw new ProxyError(400, 'bad_target', `request-target has no host: ${JSON.stringify(target.slice(0, 200))}`);
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ProxyError(400, 'bad_target', `malformed request-target: ${JSON.stringify(target.slice(0, 200))}`);
  }
  // https: too (RFC 9112 §3.2.2 allows any scheme): the proxy itself speaks TLS to the origin.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProxyError(400, 'bad_target', `unsupported scheme ${url.protocol} (http: and https: only)`);
  }
  if (!url.hostname) throw new ProxyError(400, 'bad_target', 'request-target has no host');
  // No resolver answers a longer name; refused here, it never reaches a memo or a metric label.
  if (url.hostname.length > MAX_HOST_CHARS) throw new ProxyError(400, 'bad_target', `request-target host is longer than ${MAX_HOST_CHARS} characters`);
  if (url.username || url.password) throw new ProxyError(400, 'bad_target', 'userinfo is not allowed in the request-target');
  url.hash = '';
  return { form: 'absolute', url, origin: `${url.protocol}//${url.host}`, key: undefined };
}

function parseAuthority(target: string): RequestTarget {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/.exec(target);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new ProxyError(400, 'bad_target', `CONNECT needs host:port, got ${JSON.stringify(target.slice(0, 200))}`);
  }
  if (match[1]!.length > MAX_HOST_CHARS + 2) throw new ProxyError(400, 'bad_target', `CONNECT host is longer than ${MAX_HOST_CHARS} characters`);
  return { form: 'authority', host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

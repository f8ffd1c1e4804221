// Request-target forms (RFC 9112 §3.2): absolute-form for proxied requests, authority-form for
// CONNECT, origin-form for requests addressed to the proxy itself. Malformed targets are 400s.
import { ProxyError } from '../errors.js';
import { LRUCache } from 'lru-cache';

export type RequestTarget =
  | { form: 'absolute'; url: URL }
  | { form: 'authority'; host: string; port: number }
  | { form: 'origin'; path: string };

// Scrapers and pollers ask for the same URLs over and over: parse each once (an LRU of the
// 10,000 most recent). The parsed URLs are shared, so nothing may modify them after parsing.
const recentTargets = new LRUCache<string, RequestTarget>({ max: 10_000 });

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
  if (url.username || url.password) throw new ProxyError(400, 'bad_target', 'userinfo is not allowed in the request-target');
  url.hash = '';
  return { form: 'absolute', url };
}

function parseAuthority(target: string): RequestTarget {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/.exec(target);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new ProxyError(400, 'bad_target', `CONNECT needs host:port, got ${JSON.stringify(target.slice(0, 200))}`);
  }
  return { form: 'authority', host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

// The only place that builds cache keys: the URL key, the variant id from Vary, the fill-lock
// key. Hashing keeps Redis keys short and bounded whatever the URL length.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

function hash(text: string): string {
  return createHash('sha1').update(text).digest('base64url');
}

/** Scheme, lower-case host, explicit port and path+query: `http://example.com:80/a?b`. */
const recentUrlKeys = new Map<string, string>();

export function urlKey(url: URL): string {
  const href = url.href;
  let key = recentUrlKeys.get(href);
  if (key === undefined) {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    key = hash(`${url.protocol}//${url.hostname.toLowerCase()}:${port}${url.pathname}${url.search}`);
    // Hashing costs more than the lookup it serves; hot URLs repeat. Bounded, cleared when full.
    if (recentUrlKeys.size >= 10_000) recentUrlKeys.clear();
    recentUrlKeys.set(href, key);
  }
  return key;
}

/** Lower-case field names of a Vary value, sorted; null when there is no Vary. */
export function varyNames(vary: string | string[] | undefined): string[] | null {
  if (!vary) return null;
  const names = (Array.isArray(vary) ? vary.join(',') : vary)
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  return names.length ? [...new Set(names)].sort() : null;
}

/**
 * The request's values of the Vary fields, normalised (RFC 9111 §4.1: "selecting header fields
 * ... normalized"): whitespace around list elements always; for the content-negotiation lists
 * below also case, order and the q-value spelling (`q=1` is the default, `q=0.50` is `q=0.5`),
 * so `en-US, fr` and `fr, EN-us` select one variant.
 */
export function variantId(vary: string[], headers: IncomingHttpHeaders): string {
  const parts = vary.map((name) => {
    const value = headers[name];
    const text = (value === undefined ? '' : Array.isArray(value) ? value.join(',') : value).replace(/\s*,\s*/g, ',').trim();
    return `${name}:${NEGOTIATION_LISTS.has(name) ? normaliseNegotiationList(text) : text}`;
  });
  return hash(parts.join('\n'));
}

// RFC 9110 §12.5: lists of case-insensitive tokens (or language ranges) with optional weights.
const NEGOTIATION_LISTS: ReadonlySet<string> = new Set(['accept-language', 'accept-encoding', 'accept-charset']);

function normaliseNegotiationList(text: string): string {
  return text
    .toLowerCase()
    .split(',')
    .filter(Boolean)
    .map((element) => {
      const [item = '', ...params] = element.split(';').map((p) => p.trim());
      const weight = params.find((p) => /^q=/.test(p));
      const q = weight === undefined ? 1 : Number(weight.slice(2));
      return Number.isFinite(q) && q !== 1 ? `${item};q=${q}` : item;
    })
    .sort()
    .join(',');
}

/** Digest of a request's Cookie field: what a cookie-bound entry is bound to (EntryMeta.boundTo). */
export function cookieBinding(cookie: string | undefined): string {
  return cookie === undefined || cookie === '' ? '' : hash(`cookie:${cookie}`);
}

export function fillKey(url: string, variant: string | null): string {
  return variant ? `${url}:${variant}` : url;
}

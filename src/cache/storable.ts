// RFC 9111 §3 for a shared cache: may this response be stored at all? A pure decision over the
// parsed facts of one exchange; freshness (cache/freshness.ts) and the cache's own limits
// (pipeline/storage-decision.ts: Vary: *, Set-Cookie, sizes, crawl rules) are decided elsewhere.
import type { DirectiveValue } from '../http/cache-control.js';

export interface ExchangeFacts {
  method: string;
  status: number;
  /** The response's Cache-Control directives. */
  directives: ReadonlyMap<string, DirectiveValue>;
  /** The response fields, corrected (cache/response-fields.ts). */
  fields: Readonly<Record<string, string>>;
  /** The request carried Authorization. */
  authorization: boolean;
  /** The request's Cache-Control said no-store. */
  requestNoStore: boolean;
}

// RFC 9110 §15: the final status codes whose semantics this cache knows (must-understand,
// RFC 9111 §5.2.2.3). 206 is known but never stored whole; 304 is never stored.
const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412,
  413, 414, 415, 416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505,
]);

// RFC 9110 §15.1: statuses that may get heuristic freshness.
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** RFC 9111 §3, each condition in the section's order; any final status may be stored given explicit freshness or `public`. */
export function storableInSharedCache(f: ExchangeFacts): boolean {
  const cc = f.directives;
  // §3: the request method is understood by the cache (and only GET and HEAD are cached here).
  if (f.method !== 'GET' && f.method !== 'HEAD') return false;
  // §3, §5.2.1.5: no-store in the request.
  if (f.requestNoStore) return false;
  // §3: a final status; 206 is stored only by caches that combine ranges (§3.3), 304 never.
  if (f.status < 200 || f.status === 206 || f.status === 304) return false;
  // §5.2.2.3: must-understand overrides no-store for a status the cache understands, and makes
  // an unknown status unstorable.
  if (cc.has('must-understand')) {
    if (!UNDERSTOOD_STATUSES.has(f.status)) return false;
  } else if (cc.has('no-store')) {
    return false;
  }
  // §5.2.2.7: private is for one user's cache, never a shared one.
  if (cc.has('private')) return false;
  // §3.5: a response to a request with Authorization only when the origin allows it.
  if (f.authorization && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return false;
  // §3: Expires, max-age, s-maxage, public, or a status cacheable by default (§4.2.2).
  return f.fields['expires'] !== undefined || cc.has('max-age') || cc.has('s-maxage') || cc.has('public') || HEURISTICALLY_CACHEABLE.has(f.status);
}

// RFC 9111 §4.2 freshness for a shared cache, and the RFC 5861 stale windows: pure functions of
// the response's (corrected) fields, its directives and the clock. Whether a stale response may
// be used, and for which request, is decided in cache/semantics.ts; storability in storable.ts.
// Where this keeps a choice of http-cache-semantics (the engine before it), the comment says so.
import type { DirectiveValue } from '../http/cache-control.js';
import { parseHttpDate } from '../http/http-date.js';

type Directives = ReadonlyMap<string, DirectiveValue>;

// RFC 9111 §4.2.2: "a cache SHOULD NOT use a heuristic freshness lifetime greater than some
// fraction of the interval since" Last-Modified; 10 % is the fraction the RFC mentions.
const HEURISTIC_FRACTION = 0.1;

/**
 * A directive's delta-seconds (RFC 9111 §1.2.2), leniently as caches read it (leading digits,
 * quotes already removed); 0 when absent, bare, negative or not a number, which for a lifetime
 * means stale (§4.2.1: invalid freshness information).
 */
export function deltaSeconds(value: DirectiveValue | undefined): number {
  if (value === undefined || value === true) return 0;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export interface FreshnessFacts {
  status: number;
  directives: Directives;
  fields: Readonly<Record<string, string>>;
  storable: boolean;
  /** When the response was received (ms): stands in for a missing Date (RFC 9110 §6.6.1). */
  receivedAt: number;
}

/** The freshness lifetime in seconds, for a shared cache (RFC 9111 §4.2.1, §4.2.2); may be fractional. */
export function freshnessLifetime(f: FreshnessFacts): number {
  const cc = f.directives;
  if (!f.storable) return 0;
  // §5.2.2.4: no-cache means every reuse is validated first. Kept from http-cache-semantics: so
  // does Pragma: no-cache on a response without Cache-Control (§5.4 defines it for requests only,
  // but HTTP/1.0 origins send it to mean this).
  if (cc.has('no-cache') || (f.fields['cache-control'] === undefined && /no-cache/.test(f.fields['pragma'] ?? ''))) return 0;
  // Invariant 2 (and http-cache-semantics): a response that sets a cookie is fresh for a shared
  // cache only when marked public. (cache/entry.ts policyHeaders marks such responses.)
  if (f.fields['set-cookie'] !== undefined && !cc.has('public')) return 0;
  // §4.1: Vary: * matches no request.
  if (f.fields['vary'] !== undefined && f.fields['vary'].split(',').some((name) => name.trim() === '*')) return 0;
  // §5.2.2.8: proxy-revalidate is must-revalidate for shared caches; kept from
  // http-cache-semantics, which goes further and gives it no freshness at all (tests rely on it).
  if (cc.has('proxy-revalidate')) return 0;
  // §5.2.2.10: s-maxage overrides max-age and Expires in a shared cache.
  if (cc.has('s-maxage')) return deltaSeconds(cc.get('s-maxage'));
  // §5.2.2.1, §5.3: max-age overrides Expires.
  if (cc.has('max-age')) return deltaSeconds(cc.get('max-age'));
  const date = dateOf(f);
  const expires = f.fields['expires'];
  if (expires !== undefined) {
    // §5.3: an invalid Expires ("0" among them) is a time in the past; §4.2.1: lifetime = Expires − Date.
    const at = parseHttpDate(expires, f.receivedAt);
    return Number.isNaN(at) || at < date ? 0 : (at - date) / 1000;
  }
  // §4.2.2: heuristic freshness from Last-Modified (storableInSharedCache has checked that the
  // status is heuristically cacheable or the response is public).
  const lastModified = parseHttpDate(f.fields['last-modified'], f.receivedAt);
  if (!Number.isNaN(lastModified) && date > lastModified) return ((date - lastModified) / 1000) * HEURISTIC_FRACTION;
  return 0;
}

/** Date, or the time of receipt when Date is missing or invalid (RFC 9110 §6.6.1). */
function dateOf(f: FreshnessFacts): number {
  const date = parseHttpDate(f.fields['date'], f.receivedAt);
  return Number.isNaN(date) ? f.receivedAt : date;
}

/**
 * The Age field's value in seconds (RFC 9111 §5.1; response-fields.ts has made it delta-seconds
 * or removed it). The current age is this plus the resident time (§4.2.3). The apparent age
 * (receipt time minus Date) is not counted, as http-cache-semantics did not: an origin's clock
 * running behind would otherwise make its responses stale on arrival.
 */
export function initialAge(fields: Readonly<Record<string, string>>): number {
  return deltaSeconds(fields['age']);
}

/** §4.2.3: current_age = corrected_initial_age + resident_time, in seconds (may be fractional). */
export function currentAge(initialAgeSeconds: number, receivedAt: number, now: number): number {
  return initialAgeSeconds + (now - receivedAt) / 1000;
}

/** RFC 5861 §3: may a stale response be served while it is revalidated in the background? */
export function withinStaleWhileRevalidate(lifetime: number, age: number, directives: Directives): boolean {
  const window = deltaSeconds(directives.get('stale-while-revalidate'));
  return window > 0 && lifetime + window > age;
}

/**
 * How long, in ms, the response is of any use from now: fresh, or inside its stale-while-revalidate
 * or stale-if-error window (RFC 5861), whichever ends last; 0 when none is left.
 */
export function usefulForMs(lifetime: number, age: number, directives: Directives): number {
  const freshLeft = lifetime - age;
  const staleWindow = Math.max(deltaSeconds(directives.get('stale-if-error')), deltaSeconds(directives.get('stale-while-revalidate')));
  return Math.round(Math.max(0, freshLeft + staleWindow) * 1000);
}

// The only importer of http-cache-semantics: RFC 9111 decisions as pure functions over a
// policy object. What the library lacks or gets wrong for a shared proxy is filled here:
// must-revalidate applies only when stale, Vary: * is never stored, a 304 merge that adds
// new fields (RFC 9111 §3.2), stale-if-error as its own question, and an injected clock.
// Also: strict field parsing (response-fields.ts), every final status storable with explicit
// freshness (§3), must-understand (§5.2.2.3), and serving stale when disconnected (§4.2.4).
import CachePolicy from 'http-cache-semantics';
import type { EntryMeta } from '../store/types.js';
import { policyObject } from './entry.js';
import type { CrawlSettings, OverrideToken } from '../policy/crawl-rules.js';
import { applyFreshnessRule, hasFreshnessLevers } from './freshness-rule.js';
import { fieldsForPolicy } from './response-fields.js';
import { parseDirectives } from '../http/cache-control.js';
import { formatHttpDate, parseHttpDate } from '../http/http-date.js';

export type CachePolicyObject = CachePolicy.CachePolicyObject;
export type SemanticsRequest = { url: string; method: string; headers: Record<string, string> };
export type SemanticsResponse = { status: number; headers: Record<string, string>; rawHeaders?: readonly string[] };

export interface SemanticsOptions {
  /** Lower-case name of a targeted Cache-Control field this cache obeys (RFC 9213), e.g. cdn-cache-control. */
  targetedCacheControl?: string;
}

// RFC 9110 §15: the final status codes whose semantics this cache knows (must-understand,
// RFC 9111 §5.2.2.3). 206 is known but never stored whole; 304 is never stored.
const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412,
  413, 414, 415, 416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505,
]);
// RFC 9110 §15.1: statuses that may get heuristic freshness.
const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** The parsed fields of http-cache-semantics we read to decide storability ourselves. */
interface LibraryFields {
  _status: number;
  _method: string;
  _url: string;
  _host: string | undefined;
  _rescc: Record<string, string | true>;
  _reqcc: Record<string, string | true>;
  _resHeaders: Record<string, string>;
  _noAuthorization: boolean;
  _responseTime: number;
  _isShared: boolean;
  _cacheHeuristic: number;
  _immutableMinTtl: number;
  _ignoreCargoCult: boolean;
}

/** A policy rebuilt after a 304 (Semantics.refreshedPolicy), and its serialised form without its copy of the fields. */
export interface RefreshedPolicy {
  policy: CachePolicy;
  /** Its serialised form (what toObject() returns), a new object the caller may keep. */
  serialised: CachePolicy.CachePolicyObject;
}

/**
 * RFC 9111 §3 for a shared cache, in full: any final status may be stored with explicit
 * freshness or `public` (the library knows a fixed list), and must-understand lets a known
 * status be stored despite no-store while an unknown one never is.
 */
function storableInSharedCache(f: LibraryFields): boolean {
  const cc = f._rescc;
  if (f._method !== 'GET' && f._method !== 'HEAD') return false;
  if (f._reqcc['no-store'] !== undefined) return false;
  if (f._status < 200 || f._status === 206 || f._status === 304) return false;
  if (cc['must-understand'] !== undefined) {
    if (!UNDERSTOOD_STATUSES.has(f._status)) return false;
  } else if (cc['no-store'] !== undefined) {
    return false;
  }
  if (cc['private'] !== undefined) return false;
  // RFC 9111 §3.5: a response to a request with Authorization only when the origin allows it.
  if (!f._noAuthorization && cc['public'] === undefined && cc['s-maxage'] === undefined && cc['must-revalidate'] === undefined) return false;
  return (
    f._resHeaders['expires'] !== undefined ||
    cc['max-age'] !== undefined ||
    cc['s-maxage'] !== undefined ||
    cc['public'] !== undefined ||
    HEURISTICALLY_CACHEABLE.has(f._status)
  );
}

/** How a stored entry may answer a request (Varnish HSH_*, gregjones getFreshness). */
export type Usability = 'fresh' | 'stale-while-revalidate' | 'revalidate';

// RFC 9111 §3.2: a 304 replaces stored fields, except those describing the stored body.
const KEPT_ON_REFRESH = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range']);

export interface Semantics {
  /** `rule`: a crawl rule's freshness levers, applied to the fields before the library reads them. */
  policyFor(req: SemanticsRequest, res: SemanticsResponse, rule?: CrawlSettings): CachePolicy;
  /** The override tokens that changed what the origin said when `policy` was built (none: []). */
  ruleOverrides(policy: CachePolicy): readonly OverrideToken[];
  /** The stored entry's policy, rebuilt once per metadata object (hits reuse it). */
  policyOf(meta: EntryMeta): CachePolicy;
  /**
   * After a 304 that changed no stored field of `before` but Date: what policyFor(req, the merged
   * fields, rule) would build, made from the entry's policy without parsing anything again. null
   * when something else could differ: then policyFor must build it. That is, when the policy was
   * not built from exactly the stored fields (a crawl rule or a targeted field rewrote them, so
   * its serialised form keeps its own copy: they must be applied afresh), when a rule's levers
   * apply now, or when the request's Cache-Control or credentials differ.
   */
  refreshedPolicy(before: EntryMeta, req: SemanticsRequest, date: string | string[] | undefined, rule?: CrawlSettings): RefreshedPolicy | null;
  /** `policy` was just built for `meta` (a 304 refresh): policyOf(meta) returns it, no rebuild. */
  adopt(meta: EntryMeta, policy: CachePolicy): void;
  /** Why a response may not be stored ('vary-star', 'set-cookie', 'not-storable'), or null when it may. */
  unstorableReason(policy: CachePolicy, res: SemanticsResponse): string | null;
  usability(policy: CachePolicy, req: SemanticsRequest): Usability;
  /** must-revalidate / proxy-revalidate / no-cache / s-maxage: no stale copy on our own initiative (RFC 9111 §4.2.4). */
  forbidsStale(policy: CachePolicy): boolean;
  /** RFC 5861 stale-if-error: may this stale entry answer when the origin fails or sends a 5xx? */
  mayServeStaleOnError(policy: CachePolicy): boolean;
  /** Stored from a request with Authorization on must-revalidate alone: every reuse is revalidated with the new request's credentials. */
  needsOwnCredentials(policy: CachePolicy): boolean;
  /** May a request with Authorization be answered from this entry? (public, s-maxage or must-revalidate) */
  reusableWithAuthorization(policy: CachePolicy): boolean;
  /** RFC 9111 §4.2.4: may this stale entry answer while the origin cannot be reached at all? */
  mayServeStaleIfDisconnected(policy: CachePolicy, windowMs: number): boolean;
  /** Seconds of freshness left (negative when stale), for Cache-Status ttl=. */
  ttlSeconds(policy: CachePolicy): number;
  ageSeconds(policy: CachePolicy): number;
  /** Fields merged from a 304 into the stored ones (RFC 9111 §4.3.4). */
  mergeNotModified(stored: Record<string, string | string[]>, notModified: Record<string, string | string[]>): Record<string, string | string[]>;
  /**
   * How long the store should keep the entry, in ms: freshness + the longest stale window that can
   * apply (stale-while-revalidate, stale-if-error, `disconnectedMs`: --serve-stale-if-disconnected),
   * or + `keepValidatorsMs` when it has validators, whichever is longer.
   */
  storeTtlMs(policy: CachePolicy, hasValidators: boolean, keepValidatorsMs: number, disconnectedMs: number): number;
}

const NO_OVERRIDES: readonly OverrideToken[] = [];

function isEmpty(object: object): boolean {
  for (const _ in object) return false;
  return true;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function seconds(value: string | true | undefined): number {
  if (value === undefined || value === true) return 0;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8: no stale response at all with these, whatever else says so. */
function forbidsServingStale(rescc: ReadonlyMap<string, string | true>): boolean {
  return rescc.has('must-revalidate') || rescc.has('proxy-revalidate') || rescc.has('no-cache');
}

/**
 * Stale only on the origin's own word: a shared cache reads s-maxage as proxy-revalidate
 * (§5.2.2.10), so our defaults (the disconnected window) and a client's max-stale do not apply;
 * the origin's explicit stale-while-revalidate / stale-if-error (RFC 5861) still do.
 */
function staleOnlyIfOriginSays(rescc: ReadonlyMap<string, string | true>): boolean {
  return forbidsServingStale(rescc) || rescc.has('s-maxage');
}

/** Stored from a request with Authorization without public / s-maxage (only must-revalidate allowed it). */
function storedForOneUser(policy: CachePolicy, rescc: ReadonlyMap<string, string | true>): boolean {
  return !(policy as unknown as LibraryFields)._noAuthorization && !rescc.has('public') && !rescc.has('s-maxage');
}

export function createSemantics(now: () => number, semanticsOptions: SemanticsOptions = {}): Semantics {
  // The library reads the clock through an overridable method; one subclass per clock.
  class ClockedPolicy extends CachePolicy {
    private memoMaxAge: number | undefined;
    private memoStorable: boolean | undefined;
    /** The response's Cache-Control directives, parsed once (responseDirectives). */
    directives: ReadonlyMap<string, string | true> | undefined;
    /** Crawl-rule override tokens that changed what this policy was built from. */
    overridden: readonly OverrideToken[] = NO_OVERRIDES;

    // Our RFC 9111 §3 replaces the library's (maxAge() asks it too). Memoised: the inputs never change.
    override storable(): boolean {
      return (this.memoStorable ??= storableInSharedCache(this as unknown as LibraryFields));
    }

    // Not in @types/http-cache-semantics, but the library's documented clock hook.
    now(): number {
      return now();
    }

    // maxAge() depends only on what the policy was built from, not on the clock, and the library
    // calls it several times per decision (stale(), timeToLive(), …): compute it once.
    override maxAge(): number {
      return (this.memoMaxAge ??= super.maxAge());
    }

    private ageAt = NaN;
    private memoAge = 0;

    // age() is asked several times per request (usability, stale(), Age, ttl); once per tick.
    override age(): number {
      const at = now();
      if (at !== this.ageAt) {
        this.memoAge = super.age();
        this.ageAt = at;
      }
      return this.memoAge;
    }

    /** refreshedPolicy: the same response fields but Date, received now, for a request with the same semantics. */
    static refreshed(before: ClockedPolicy, req: SemanticsRequest, date: string | undefined): RefreshedPolicy {
      const f = before as unknown as LibraryFields;
      const resh = { ...f._resHeaders };
      // As fieldsForPolicy reads Date: strictly, in its canonical form, dropped when invalid.
      const time = date === undefined ? NaN : parseHttpDate(date, now());
      if (Number.isNaN(time)) delete resh['date'];
      else resh['date'] = formatHttpDate(time);
      // A literal, not a spread of another policy's object: see compactPolicy in entry.ts.
      const serialised: CachePolicy.CachePolicyObject = {
        v: 1,
        t: now(),
        sh: f._isShared,
        ch: f._cacheHeuristic,
        imm: f._immutableMinTtl,
        icc: f._ignoreCargoCult,
        st: f._status,
        resh,
        rescc: f._rescc,
        m: f._method,
        u: f._url,
        h: f._host,
        a: f._noAuthorization,
        reqh: resh['vary'] ? req.headers : null,
        reqcc: f._reqcc,
      } as CachePolicy.CachePolicyObject;
      const policy = ClockedPolicy.fromObject(serialised) as ClockedPolicy;
      // Parsed from Cache-Control, which did not change; storable() reads no date.
      policy.directives = before.directives;
      policy.memoStorable = before.memoStorable;
      return { policy, serialised };
    }
  }
  const options = { shared: true, cacheHeuristic: 0.1 };
  // The memory store hands back the same meta object on every hit: its policy is rebuilt once
  // and kept on the object under a key of this instance's own (another proxy in the process has
  // another clock). A property rather than a WeakMap: a revalidation makes a new meta and policy
  // each time, and WeakMap entries are ephemerons the young-generation GC must trace one by one.
  const POLICY = Symbol('policy');
  type WithPolicy = EntryMeta & { [POLICY]?: ClockedPolicy };
  const responseDirectives = (policy: CachePolicy): ReadonlyMap<string, string | true> => {
    const clocked = policy as ClockedPolicy;
    return (clocked.directives ??= parseDirectives(headerText(policy.toObject().resh['cache-control'])));
  };

  const policyOf = (meta: EntryMeta): ClockedPolicy => ((meta as WithPolicy)[POLICY] ??= ClockedPolicy.fromObject(policyObject(meta)) as ClockedPolicy);

  return {
    policyFor(req, res, rule) {
      let headers = fieldsForPolicy(res.headers, res.rawHeaders, { now: now(), targetedCacheControl: semanticsOptions.targetedCacheControl });
      if (!hasFreshnessLevers(rule)) return new ClockedPolicy(req, { status: res.status, headers }, options);
      const effect = applyFreshnessRule(headers, res.status, rule, now());
      headers = effect.fields;
      const policy = new ClockedPolicy(req, { status: res.status, headers }, options);
      if (effect.overridden.length) policy.overridden = effect.overridden;
      return policy;
    },
    refreshedPolicy(meta, req, date, rule) {
      if (meta.policy.resh || hasFreshnessLevers(rule)) return null;
      const before = policyOf(meta);
      const f = before as unknown as LibraryFields;
      // The request's side of the policy must come out as it would from the constructor.
      const sameRequest =
        req.method === f._method &&
        req.url === f._url &&
        req.headers['host'] === f._host &&
        !req.headers['authorization'] === f._noAuthorization &&
        req.headers['cache-control'] === undefined &&
        isEmpty(f._reqcc);
      return sameRequest ? ClockedPolicy.refreshed(before, req, headerText(date)) : null;
    },
    ruleOverrides: (policy) => (policy as ClockedPolicy).overridden ?? NO_OVERRIDES,
    adopt(meta, policy) {
      (meta as WithPolicy)[POLICY] = policy as ClockedPolicy;
    },
    policyOf,

    unstorableReason(policy, res) {
      const vary = res.headers['vary'];
      if (vary && vary.split(',').some((v) => v.trim() === '*')) return 'vary-star';
      if (!policy.storable()) return 'not-storable';
      // RFC 9111 §7.3 / invariant 2: a page made for one client's cookie session is shared only
      // when the origin says so (public / s-maxage); policyHeaders() marks the other ones.
      if (res.headers['set-cookie'] !== undefined) return 'set-cookie';
      // Heuristic freshness with neither validator nor explicit lifetime would be stored only
      // to be thrown away; storing it would still let conditionals answer, so keep it.
      return null;
    },

    usability(policy, req) {
      const rescc = responseDirectives(policy);
      const reqcc = parseDirectives(req.headers['cache-control']);
      const age = policy.age();
      const maxAge = policy.maxAge();
      if (reqcc.has('no-cache') || (!req.headers['cache-control'] && /no-cache/i.test(req.headers['pragma'] ?? ''))) {
        return 'revalidate';
      }
      if (reqcc.has('max-age') && age > seconds(reqcc.get('max-age'))) return 'revalidate';
      if (reqcc.has('min-fresh') && maxAge - age < seconds(reqcc.get('min-fresh'))) return 'revalidate';
      // RFC 9111 §3.5: stored from a request with Authorization on must-revalidate alone, it is
      // reused only once the origin has seen the new request's own credentials.
      if (storedForOneUser(policy, rescc)) return 'revalidate';
      if (!policy.stale()) return 'fresh';
      if (forbidsServingStale(rescc)) return 'revalidate';
      const maxStale = staleOnlyIfOriginSays(rescc) ? undefined : reqcc.get('max-stale');
      if (maxStale === true || (maxStale !== undefined && seconds(maxStale) > age - maxAge)) return 'fresh';
      if ((policy as CachePolicy & { useStaleWhileRevalidate(): boolean }).useStaleWhileRevalidate()) {
        return 'stale-while-revalidate';
      }
      return 'revalidate';
    },

    forbidsStale(policy) {
      return staleOnlyIfOriginSays(responseDirectives(policy));
    },

    mayServeStaleOnError(policy) {
      const rescc = responseDirectives(policy);
      if (forbidsServingStale(rescc) || storedForOneUser(policy, rescc)) return false;
      return policy.maxAge() + seconds(rescc.get('stale-if-error')) > policy.age();
    },

    needsOwnCredentials(policy) {
      return storedForOneUser(policy, responseDirectives(policy));
    },

    reusableWithAuthorization(policy) {
      const rescc = responseDirectives(policy);
      return rescc.has('public') || rescc.has('s-maxage') || rescc.has('must-revalidate');
    },

    mayServeStaleIfDisconnected(policy, windowMs) {
      const rescc = responseDirectives(policy);
      if (forbidsServingStale(rescc) || storedForOneUser(policy, rescc)) return false;
      const window = staleOnlyIfOriginSays(rescc) ? 0 : windowMs / 1000;
      return policy.maxAge() + Math.max(window, seconds(rescc.get('stale-if-error'))) > policy.age();
    },

    ttlSeconds: (policy) => Math.round(policy.maxAge() - policy.age()),
    ageSeconds: (policy) => Math.max(0, Math.round(policy.age())),

    mergeNotModified(stored, notModified) {
      const merged: Record<string, string | string[]> = { ...stored };
      for (const [name, value] of Object.entries(notModified)) {
        if (!KEPT_ON_REFRESH.has(name)) merged[name] = value;
      }
      return merged;
    },

    storeTtlMs(policy, hasValidators, keepValidatorsMs, disconnectedMs) {
      // Varnish's ttl + grace + keep: an expired entry with validators still saves a body
      // transfer when the origin answers 304, so it is kept longer than it is fresh.
      // timeToLive() counts stale-while-revalidate and stale-if-error.
      const useful = policy.timeToLive();
      const freshLeftMs = Math.max(0, (policy.maxAge() - policy.age()) * 1000);
      // RFC 9111 §4.2.4: an entry the cache may serve stale when disconnected is kept for that
      // window, with validators or without (it cannot be revalidated, but it can still answer
      // when the origin cannot be reached).
      const rescc = responseDirectives(policy);
      const mayServeDisconnected = !staleOnlyIfOriginSays(rescc) && !storedForOneUser(policy, rescc);
      const disconnected = mayServeDisconnected ? freshLeftMs + disconnectedMs : 0;
      return Math.max(useful, hasValidators ? freshLeftMs + keepValidatorsMs : 0, disconnected, 1000);
    },
  };
}

// The RFC 9111 questions the pipeline asks of a response's policy (cache/response-policy.ts),
// as pure functions with an injected clock: may it be stored, may it answer this request now, may
// it answer stale when the origin fails or cannot be reached, how long to keep it, and the policy
// after a 304. The rules themselves live in storable.ts (§3) and freshness.ts (§4.2, RFC 5861);
// the response fields are corrected first (response-fields.ts), then a crawl rule's levers apply.
import type { EntryMeta } from '../store/types.js';
import { semanticsHeaders } from './entry.js';
import type { CrawlSettings, OverrideToken } from '../policy/crawl-rules.js';
import { applyFreshnessRule, hasFreshnessLevers } from './freshness-rule.js';
import { fieldsForPolicy } from './response-fields.js';
import { deltaSeconds as seconds, usefulForMs, withinStaleWhileRevalidate } from './freshness.js';
import { ResponsePolicy, type RequestFacts } from './response-policy.js';
import { parseDirectives } from '../http/cache-control.js';
import { formatHttpDate, parseHttpDate } from '../http/http-date.js';

export { ResponsePolicy } from './response-policy.js';
export type SemanticsRequest = { url: string; method: string; headers: Record<string, string> };
export type SemanticsResponse = { status: number; headers: Record<string, string>; rawHeaders?: readonly string[] };

export interface SemanticsOptions {
  /** Lower-case name of a targeted Cache-Control field this cache obeys (RFC 9213), e.g. cdn-cache-control. */
  targetedCacheControl?: string;
}

/** How a stored entry may answer a request (Varnish HSH_*, gregjones getFreshness). */
export type Usability = 'fresh' | 'stale-while-revalidate' | 'revalidate';

// RFC 9111 §3.2: a 304 replaces stored fields, except those describing the stored body.
const KEPT_ON_REFRESH = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range']);

export interface Semantics {
  /** `rule`: a crawl rule's freshness levers, applied to the corrected fields before the rules read them. */
  policyFor(req: SemanticsRequest, res: SemanticsResponse, rule?: CrawlSettings): ResponsePolicy;
  /** The override tokens that changed what the origin said when `policy` was built (none: []). */
  ruleOverrides(policy: ResponsePolicy): readonly OverrideToken[];
  /** The stored entry's policy, rebuilt once per metadata object (hits reuse it). */
  policyOf(meta: EntryMeta): ResponsePolicy;
  /**
   * After a 304 that changed no stored field of `before` but Date: what policyFor(req, the merged
   * fields, rule) would build, made from the entry's policy without correcting and parsing its
   * fields again. null when something else could differ: then policyFor must build it. That is,
   * when the policy was not built from exactly the stored fields (a crawl rule or a targeted field
   * rewrote them, so its stored form keeps its own copy: they must be applied afresh), when a
   * rule's levers apply now, or when the request's facts (credentials, no-store) differ.
   */
  refreshedPolicy(before: EntryMeta, req: SemanticsRequest, date: string | string[] | undefined, rule?: CrawlSettings): ResponsePolicy | null;
  /** `policy` was just built for `meta` (a 304 refresh): policyOf(meta) returns it, no rebuild. */
  adopt(meta: EntryMeta, policy: ResponsePolicy): void;
  /** Why a response may not be stored ('vary-star', 'set-cookie', 'not-storable'), or null when it may. */
  unstorableReason(policy: ResponsePolicy, res: SemanticsResponse): string | null;
  usability(policy: ResponsePolicy, req: SemanticsRequest): Usability;
  /** Has the entry outlived its freshness lifetime (RFC 9111 §4.2)? */
  stale(policy: ResponsePolicy): boolean;
  /** must-revalidate / proxy-revalidate / no-cache / s-maxage: no stale copy on our own initiative (RFC 9111 §4.2.4). */
  forbidsStale(policy: ResponsePolicy): boolean;
  /** RFC 5861 stale-if-error: may this stale entry answer when the origin fails or sends a 5xx? */
  mayServeStaleOnError(policy: ResponsePolicy): boolean;
  /** Stored from a request with Authorization on must-revalidate alone: every reuse is revalidated with the new request's credentials. */
  needsOwnCredentials(policy: ResponsePolicy): boolean;
  /** May a request with Authorization be answered from this entry? (public, s-maxage or must-revalidate) */
  reusableWithAuthorization(policy: ResponsePolicy): boolean;
  /** RFC 9111 §4.2.4: may this stale entry answer while the origin cannot be reached at all? */
  mayServeStaleIfDisconnected(policy: ResponsePolicy, windowMs: number): boolean;
  /** Seconds of freshness left (negative when stale), for Cache-Status ttl=. */
  ttlSeconds(policy: ResponsePolicy): number;
  ageSeconds(policy: ResponsePolicy): number;
  /** Fields merged from a 304 into the stored ones (RFC 9111 §4.3.4). */
  mergeNotModified(stored: Record<string, string | string[]>, notModified: Record<string, string | string[]>): Record<string, string | string[]>;
  /**
   * How long the store should keep the entry, in ms: freshness + the longest stale window that can
   * apply (stale-while-revalidate, stale-if-error, `disconnectedMs`: --serve-stale-if-disconnected),
   * or + `keepValidatorsMs` when it has validators, whichever is longer.
   */
  storeTtlMs(policy: ResponsePolicy, hasValidators: boolean, keepValidatorsMs: number, disconnectedMs: number): number;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** What RFC 9111 §3 reads of a request. */
function requestFacts(req: SemanticsRequest): RequestFacts {
  return { method: req.method, authorization: !!req.headers['authorization'], noStore: parseDirectives(req.headers['cache-control']).has('no-store') };
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

/** Stored from a request with Authorization without public / s-maxage (only must-revalidate allowed it, §3.5). */
function storedForOneUser(policy: ResponsePolicy): boolean {
  return policy.request.authorization && !policy.directives.has('public') && !policy.directives.has('s-maxage');
}

export function createSemantics(now: () => number, semanticsOptions: SemanticsOptions = {}): Semantics {
  // The memory store hands back the same meta object on every hit: its policy is rebuilt once
  // and kept on the object under a key of this instance's own (another proxy in the process has
  // another clock). A property rather than a WeakMap: a revalidation makes a new meta and policy
  // each time, and WeakMap entries are ephemerons the young-generation GC must trace one by one.
  const POLICY = Symbol('policy');
  type WithPolicy = EntryMeta & { [POLICY]?: ResponsePolicy };

  const policyOf = (meta: EntryMeta): ResponsePolicy =>
    ((meta as WithPolicy)[POLICY] ??= ResponsePolicy.fromStored(meta.policy, meta.status, () => semanticsHeaders(meta.headers)));

  return {
    policyFor(req, res, rule) {
      const fields = fieldsForPolicy(res.headers, res.rawHeaders, { now: now(), targetedCacheControl: semanticsOptions.targetedCacheControl });
      if (!hasFreshnessLevers(rule)) return new ResponsePolicy(res.status, fields, requestFacts(req), now());
      const effect = applyFreshnessRule(fields, res.status, rule, now());
      return new ResponsePolicy(res.status, effect.fields, requestFacts(req), now(), undefined, effect.overridden.length ? effect.overridden : undefined);
    },
    refreshedPolicy(meta, req, date, rule) {
      if (meta.policy.fields || hasFreshnessLevers(rule)) return null;
      const before = policyOf(meta);
      const facts = requestFacts(req);
      const sameRequest = facts.method === before.request.method && facts.authorization === before.request.authorization && facts.noStore === before.request.noStore;
      if (!sameRequest) return null;
      // As fieldsForPolicy reads Date: strictly, in its canonical form, dropped when invalid.
      const fields = { ...before.fields };
      const text = headerText(date);
      const time = text === undefined ? NaN : parseHttpDate(text, now());
      if (Number.isNaN(time)) delete fields['date'];
      else fields['date'] = formatHttpDate(time);
      // Cache-Control did not change: its directives are reused.
      return new ResponsePolicy(before.status, fields, before.request, now(), before.directives);
    },
    ruleOverrides: (policy) => policy.overridden,
    adopt(meta, policy) {
      (meta as WithPolicy)[POLICY] = policy;
    },
    policyOf,

    unstorableReason(policy, res) {
      const vary = res.headers['vary'];
      if (vary && vary.split(',').some((v) => v.trim() === '*')) return 'vary-star';
      if (!policy.storable) return 'not-storable';
      // RFC 9111 §7.3 / invariant 2: a page made for one client's cookie session is shared only
      // when the origin says so (public / s-maxage); policyHeaders() marks the other ones.
      if (res.headers['set-cookie'] !== undefined) return 'set-cookie';
      // Heuristic freshness with neither validator nor explicit lifetime would be stored only
      // to be thrown away; storing it would still let conditionals answer, so keep it.
      return null;
    },

    usability(policy, req) {
      const rescc = policy.directives;
      const reqcc = parseDirectives(req.headers['cache-control']);
      const age = policy.age(now());
      const lifetime = policy.lifetime;
      // RFC 9111 §5.2.1.4, §5.4: the request's no-cache, or Pragma: no-cache without Cache-Control.
      const pragma = req.headers['pragma'];
      if (reqcc.has('no-cache') || (pragma !== undefined && !req.headers['cache-control'] && /no-cache/i.test(pragma))) {
        return 'revalidate';
      }
      // §5.2.1.1 max-age, §5.2.1.3 min-fresh.
      if (reqcc.has('max-age') && age > seconds(reqcc.get('max-age'))) return 'revalidate';
      if (reqcc.has('min-fresh') && lifetime - age < seconds(reqcc.get('min-fresh'))) return 'revalidate';
      // RFC 9111 §3.5: stored from a request with Authorization on must-revalidate alone, it is
      // reused only once the origin has seen the new request's own credentials.
      if (storedForOneUser(policy)) return 'revalidate';
      if (lifetime > age) return 'fresh';
      if (forbidsServingStale(rescc)) return 'revalidate';
      // §5.2.1.2 max-stale.
      const maxStale = staleOnlyIfOriginSays(rescc) ? undefined : reqcc.get('max-stale');
      if (maxStale === true || (maxStale !== undefined && seconds(maxStale) > age - lifetime)) return 'fresh';
      if (withinStaleWhileRevalidate(lifetime, age, rescc)) return 'stale-while-revalidate';
      return 'revalidate';
    },

    stale: (policy) => policy.stale(now()),

    forbidsStale(policy) {
      return staleOnlyIfOriginSays(policy.directives);
    },

    mayServeStaleOnError(policy) {
      const rescc = policy.directives;
      if (forbidsServingStale(rescc) || storedForOneUser(policy)) return false;
      // RFC 5861 §4: within stale-if-error seconds of becoming stale.
      return policy.lifetime + seconds(rescc.get('stale-if-error')) > policy.age(now());
    },

    needsOwnCredentials: storedForOneUser,

    reusableWithAuthorization(policy) {
      const rescc = policy.directives;
      return rescc.has('public') || rescc.has('s-maxage') || rescc.has('must-revalidate');
    },

    mayServeStaleIfDisconnected(policy, windowMs) {
      const rescc = policy.directives;
      if (forbidsServingStale(rescc) || storedForOneUser(policy)) return false;
      const window = staleOnlyIfOriginSays(rescc) ? 0 : windowMs / 1000;
      return policy.lifetime + Math.max(window, seconds(rescc.get('stale-if-error'))) > policy.age(now());
    },

    ttlSeconds: (policy) => Math.round(policy.lifetime - policy.age(now())),
    ageSeconds: (policy) => Math.max(0, Math.round(policy.age(now()))),

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
      const age = policy.age(now());
      const useful = usefulForMs(policy.lifetime, age, policy.directives);
      const freshLeftMs = Math.max(0, (policy.lifetime - age) * 1000);
      // RFC 9111 §4.2.4: an entry the cache may serve stale when disconnected is kept for that
      // window, with validators or without (it cannot be revalidated, but it can still answer
      // when the origin cannot be reached).
      const mayServeDisconnected = !staleOnlyIfOriginSays(policy.directives) && !storedForOneUser(policy);
      const disconnected = mayServeDisconnected ? freshLeftMs + disconnectedMs : 0;
      return Math.max(useful, hasValidators ? freshLeftMs + keepValidatorsMs : 0, disconnected, 1000);
    },
  };
}

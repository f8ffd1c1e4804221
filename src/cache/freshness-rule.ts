// A crawl rule's freshness levers, as a pure layer over the response fields the RFC engine
// reads (after response-fields.ts corrected them): overrides remove the directives a rule
// opts out of (Squid's ignore-no-store, ignore-private, override-expire), then the freshness
// lifetime is recomputed (RFC 9111 §4.2.1 explicit, §4.2.2 heuristic, else the rule's
// defaultTtl), clamped to minTtl / maxTtl and written back as max-age. The stored fields and
// what the client receives are untouched: only the policy is built from these.
import type { CrawlSettings, OverrideToken } from '../policy/crawl-rules.js';
import { directiveName, splitDirectives } from '../http/cache-control.js';
import { parseHttpDate } from '../http/http-date.js';

// RFC 9110 §15.1: statuses that may get heuristic freshness.
const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

// Squid's negative_ttl: the "not there" answers a link checker asks about again and again.
const NEGATIVE: ReadonlySet<number> = new Set([404, 410]);

/** The directives each override token removes before the RFC engine sees the response. */
const REMOVED_BY: Record<Exclude<OverrideToken, 'expires'>, readonly string[]> = {
  'no-store': ['no-store'],
  'no-cache': ['no-cache'],
  private: ['private'],
  'must-revalidate': ['must-revalidate', 'proxy-revalidate'],
};

export interface RuleEffect {
  fields: Record<string, string>;
  /** Override tokens that removed something the origin said (→ detail=rule-override). */
  overridden: OverrideToken[];
}

/** Does this rule change anything about freshness? (The common case, no rule, costs nothing.) */
export function hasFreshnessLevers(rule: CrawlSettings | undefined): rule is CrawlSettings {
  return !!rule && (rule.defaultTtl !== undefined || rule.negativeTtl !== undefined || rule.minTtl !== undefined || rule.maxTtl !== undefined || rule.heuristicPercent !== undefined || !!rule.override?.length);
}

function deltaSeconds(directives: string[], name: string): number | undefined {
  const found = directives.find((d) => directiveName(d) === name);
  if (found === undefined) return undefined;
  const n = Number.parseInt((found.split('=')[1] ?? '').replace(/"/g, ''), 10);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

export function applyFreshnessRule(input: Record<string, string>, status: number, rule: CrawlSettings, now: number): RuleEffect {
  const fields = { ...input };
  let directives = splitDirectives(fields['cache-control']);
  const overridden: OverrideToken[] = [];
  for (const token of rule.override ?? []) {
    if (token === 'expires') {
      // Squid's override-expire: the origin's explicit lifetime is set aside for the rule's.
      const had = directives.some((d) => ['max-age', 's-maxage'].includes(directiveName(d))) || fields['expires'] !== undefined;
      directives = directives.filter((d) => !['max-age', 's-maxage'].includes(directiveName(d)));
      delete fields['expires'];
      if (had) overridden.push(token);
      continue;
    }
    const removed = REMOVED_BY[token];
    const kept = directives.filter((d) => !removed.includes(directiveName(d)));
    const pragmaNoCache = token === 'no-cache' && /no-cache/i.test(fields['pragma'] ?? '');
    if (pragmaNoCache) delete fields['pragma'];
    if (kept.length !== directives.length || pragmaNoCache) overridden.push(token);
    directives = kept;
  }

  const lifetime = freshnessLifetime(fields, directives, status, rule, now);
  if (lifetime !== undefined) {
    // One explicit lifetime replaces the others; s-maxage keeps its own meaning (§5.2.2.10) if present.
    const hadShared = directives.some((d) => directiveName(d) === 's-maxage');
    directives = directives.filter((d) => !['max-age', 's-maxage'].includes(directiveName(d)));
    directives.push(`max-age=${lifetime}`);
    if (hadShared) directives.push(`s-maxage=${lifetime}`);
    delete fields['expires'];
  }
  if (directives.length) fields['cache-control'] = directives.join(', ');
  else delete fields['cache-control'];
  return { fields, overridden };
}

/**
 * The lifetime the rule makes, in seconds, or undefined when it leaves the origin's (and the
 * RFC engine's) own reckoning alone. no-store / no-cache still standing keep their meaning.
 */
function freshnessLifetime(fields: Record<string, string>, directives: string[], status: number, rule: CrawlSettings, now: number): number | undefined {
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.floor(ms / 1000));
  const minTtl = seconds(rule.minTtl);
  const maxTtl = seconds(rule.maxTtl);
  const date = fields['date'] !== undefined ? parseHttpDate(fields['date'], now) : now;
  let lifetime = deltaSeconds(directives, 's-maxage') ?? deltaSeconds(directives, 'max-age');
  let changed = false;
  if (lifetime === undefined && fields['expires'] !== undefined) {
    const expires = parseHttpDate(fields['expires'], now);
    // RFC 9111 §5.3: an invalid Expires means already expired.
    lifetime = Number.isNaN(expires) ? 0 : Math.max(0, Math.floor((expires - date) / 1000));
  }
  if (lifetime === undefined && rule.negativeTtl !== undefined && NEGATIVE.has(status)) {
    lifetime = seconds(rule.negativeTtl)!;
    changed = true;
  }
  if (lifetime === undefined && fields['last-modified'] !== undefined && HEURISTICALLY_CACHEABLE.has(status)) {
    if (rule.heuristicPercent !== undefined) {
      // RFC 9111 §4.2.2: a fraction of the time since Last-Modified (the engine's is 10 %).
      const age = Math.max(0, date - parseHttpDate(fields['last-modified'], now));
      lifetime = Math.floor((age / 1000) * (rule.heuristicPercent / 100));
      changed = true;
    } else if (minTtl !== undefined || maxTtl !== undefined) {
      const age = Math.max(0, date - parseHttpDate(fields['last-modified'], now));
      lifetime = Math.floor((age / 1000) * 0.1);
    }
  }
  if (lifetime === undefined && rule.defaultTtl !== undefined) {
    lifetime = seconds(rule.defaultTtl)!;
    changed = true;
  }
  if (lifetime === undefined) {
    if (minTtl === undefined) return undefined;
    lifetime = 0;
  }
  if (minTtl !== undefined && lifetime < minTtl) {
    lifetime = minTtl;
    changed = true;
  }
  if (maxTtl !== undefined && lifetime > maxTtl) {
    lifetime = maxTtl;
    changed = true;
  }
  return changed ? lifetime : undefined;
}

// URL rules for crawls (`rules:` in the config file): which rule applies to a URL, and what
// each setting resolves to. Per setting, the first rule in file order that sets it wins (so a
// specific rule above `match: { host: "*" }` overrides it only where it speaks). Compiled once
// per rules change; a resolution is memoised per URL. The RFC maths that reads the result is
// in src/cache/ (freshness-rule.ts, keys.ts).
import { RE2JS } from 're2js';
import { boundedMemo } from '../bounded-memo.js';
import type { QueryRule } from '../cache/no-vary-search.js';
import { compileGlob, compileGlobs, type GlobTest } from './glob.js';

export const OVERRIDE_TOKENS = ['no-store', 'no-cache', 'private', 'must-revalidate', 'expires'] as const;
export type OverrideToken = (typeof OVERRIDE_TOKENS)[number];

/** `{ host, path? }` (globs) or `{ url }` (a regular expression on the whole URL). */
export type RuleMatch = { host: string; path?: string } | { url: string };

/** The settings one rule may carry; durations are milliseconds, sizes bytes. */
export interface CrawlSettings {
  defaultTtl?: number;
  minTtl?: number;
  maxTtl?: number;
  heuristicPercent?: number;
  override?: OverrideToken[];
  /** Only responses with these statuses are stored. */
  statuses?: number[];
  /** Lifetime of a 404 / 410 without explicit freshness (before the heuristic and defaultTtl). */
  negativeTtl?: number;
  /** Replaces --max-object-size for these URLs. */
  maxObjectSize?: number;
  /** false: never look up or store these URLs (forwarded as sent). */
  store?: boolean;
  /** Globs on query parameter names left out of the cache key (`utm_*`). */
  ignoreQuery?: string[];
  /** Query parameter order does not matter to the key. */
  sortQuery?: boolean;
  /** Lower-case Vary names treated as not varying (`user-agent`). */
  varyIgnore?: string[];
  /** Answer these URLs only from the cache (as --offline). */
  offline?: boolean;
  /** Store every successful GET response of these URLs for replay (as --record). */
  record?: boolean;
}

export interface CrawlRule extends CrawlSettings {
  match: RuleMatch;
}

export const CRAWL_SETTING_KEYS = ['defaultTtl', 'minTtl', 'maxTtl', 'heuristicPercent', 'override', 'statuses', 'negativeTtl', 'maxObjectSize', 'store', 'ignoreQuery', 'sortQuery', 'varyIgnore', 'offline', 'record'] as const satisfies ReadonlyArray<keyof CrawlSettings>;

/** What applies to one URL: each setting's value, and the rule (by index and match) that set it. */
export interface ResolvedCrawlRule {
  settings: CrawlSettings;
  /** setting name → `rules[i]` that set it. */
  from: Partial<Record<keyof CrawlSettings, string>>;
  /** Every matching rule, in file order (for explain). */
  matched: string[];
  /** ignoreQuery (compiled) and sortQuery, for the key builder; undefined when neither is set. */
  query?: QueryRule;
}

export const NO_CRAWL_RULE: ResolvedCrawlRule = Object.freeze({ settings: Object.freeze({}), from: Object.freeze({}), matched: [] }) as ResolvedCrawlRule;

/**
 * A `{ url }` rule's expression, compiled by RE2 (re2js): JavaScript's syntax without lookaround
 * or backreferences, matched in time linear in the URL whatever the expression (a JavaScript
 * RegExp such as `(a+)+$` would backtrack for seconds). Throws on syntax RE2 does not accept.
 */
export function compileUrlPattern(source: string): (href: string) => boolean {
  const re = RE2JS.compile(source);
  return (href) => re.test(href);
}

export function describeMatch(match: RuleMatch): string {
  return 'url' in match ? `url ~ ${match.url}` : `host ${match.host}${match.path === undefined ? '' : ` path ${match.path}`}`;
}

type Test = (url: URL) => boolean;

// Patterns were checked when the rules were loaded (config/rules-schema.ts): these compile.
function compileMatch(match: RuleMatch): Test {
  if ('url' in match) {
    const test = compileUrlPattern(match.url);
    return (url) => test(url.href);
  }
  const host = compileGlob(match.host.toLowerCase(), 'name');
  const path = match.path === undefined ? undefined : compileGlob(match.path, 'wildcard');
  return (url) => host(url.hostname.toLowerCase()) && (!path || path(url.pathname));
}

export class CrawlRuleMatcher {
  private readonly compiled: Array<{ name: string; rule: CrawlRule; test: Test; ignoreQuery?: GlobTest }>;
  // Within about 8 MiB: URLs may be long (bounded-memo.ts). A resolution made for a URL holds
  // its own few objects; the shared NO_CRAWL_RULE holds nothing of its own.
  private readonly resolved = boundedMemo<ResolvedCrawlRule>('crawl-rules', 10_000, 8 * 1024 * 1024, (found) => (found === NO_CRAWL_RULE ? 0 : 400));

  constructor(readonly rules: readonly CrawlRule[]) {
    this.compiled = rules.map((rule, i) => ({
      name: `rules[${i}]`,
      rule,
      test: compileMatch(rule.match),
      ...(rule.ignoreQuery?.length && { ignoreQuery: compileGlobs(rule.ignoreQuery, 'wildcard') }),
    }));
  }

  /** Memoised by URL (without fragment; the 10,000 most recent): a crawl asks about the same URLs more than once. */
  resolve(url: URL): ResolvedCrawlRule {
    if (this.compiled.length === 0) return NO_CRAWL_RULE;
    const key = url.href.split('#')[0]!;
    let found = this.resolved.get(key);
    if (!found) {
      found = this.match(url);
      this.resolved.set(key, found);
    }
    return found;
  }

  private match(url: URL): ResolvedCrawlRule {
    const settings: Record<string, unknown> = {};
    const from: Record<string, string> = {};
    const matched: string[] = [];
    let ignore: GlobTest | undefined;
    for (const { name, rule, test, ignoreQuery } of this.compiled) {
      if (!test(url)) continue;
      matched.push(name);
      if (settings['ignoreQuery'] === undefined && ignoreQuery) ignore = ignoreQuery;
      for (const key of CRAWL_SETTING_KEYS) {
        if (rule[key] !== undefined && settings[key] === undefined) {
          settings[key] = rule[key];
          from[key] = name;
        }
      }
    }
    if (!matched.length) return NO_CRAWL_RULE;
    const resolved: ResolvedCrawlRule = { settings: settings as CrawlSettings, from, matched };
    const { sortQuery } = resolved.settings;
    if (ignore || sortQuery) resolved.query = { ...(ignore && { ignore }), ...(sortQuery && { sort: true }) };
    return resolved;
  }
}

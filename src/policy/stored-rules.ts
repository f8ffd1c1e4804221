// The document the RuleStore holds for the fleet: the live rules (policies, and the URL rules
// for crawls as `urlRules`) plus the seed, a hash of the config-file rules they grew from. Decides, at start, whether the stored rules (with their
// run-time changes) or the config file's rules win. Pure; the I/O is engine.ts's.
import { createHash } from 'node:crypto';
import { parseCrawlRules } from '../config/rules-schema.js';
import { expectObject, parsePolicies, parseString } from '../config/schema.js';
import type { CrawlRule } from './crawl-rules.js';
import type { PolicyRules } from './rules.js';

export interface StoredPolicies {
  rules: PolicyRules;
  /** The URL rules for crawls; absent: none (documents written before they existed). */
  urlRules?: CrawlRule[];
  /** sha1 of the config-file rules this document was seeded from (see seedOf). */
  seed: string;
}

/** The seed of a set of config-file rules: the hash of their canonical (re-parsed) JSON. */
export function seedOf(fileRules: PolicyRules, fileUrlRules: readonly CrawlRule[] = []): string {
  // Re-parsing fixes the key order, so the same rules written differently hash the same.
  const canonical = parsePolicies('policies', fileRules);
  // Without URL rules the seed is what it was before they existed, so an upgrade keeps the stored rules.
  const text = fileUrlRules.length ? JSON.stringify({ policies: canonical, rules: parseCrawlRules('rules', fileUrlRules) }) : JSON.stringify(canonical);
  return createHash('sha1').update(text).digest('hex');
}

/**
 * A document read from the store, validated as strictly as the config file: the store is shared
 * with other versions of the proxy and with anyone who can write to Redis. Throws ConfigError.
 */
export function decodeStored(value: unknown): StoredPolicies {
  const raw = expectObject('stored policies', value);
  return {
    rules: parsePolicies('stored policies.rules', raw['rules']),
    ...(raw['urlRules'] !== undefined && { urlRules: parseCrawlRules('stored policies.urlRules', raw['urlRules']) }),
    seed: parseString('stored policies.seed', raw['seed']),
  };
}

export type StartDecision = { use: 'stored'; doc: StoredPolicies } | { use: 'file'; doc: StoredPolicies; reason: 'none stored' | 'config file changed' };

/**
 * At start: the stored rules win when they were seeded from these same file rules (they hold the
 * run-time changes); otherwise the file's rules are saved for the whole fleet.
 */
export function startingRules(fileRules: PolicyRules, stored: StoredPolicies | undefined, fileUrlRules: CrawlRule[] = []): StartDecision {
  const seed = seedOf(fileRules, fileUrlRules);
  if (stored && stored.seed === seed) return { use: 'stored', doc: stored };
  return { use: 'file', doc: { rules: fileRules, ...(fileUrlRules.length && { urlRules: fileUrlRules }), seed }, reason: stored ? 'config file changed' : 'none stored' };
}

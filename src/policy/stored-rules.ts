// The document the RuleStore holds for the fleet: the live rules (policies, and the URL rules
// for crawls as `urlRules`) plus the seed, a hash of the config-file rules they grew from.
// Decides, at start, whether the stored rules (with their run-time changes) or the config
// file's rules win. Pure; the I/O is engine.ts's.
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

/** Whether a configuration names any rules (policies or URL rules) it could seed the fleet with. */
export function namesRules(fileRules: PolicyRules, fileUrlRules: readonly CrawlRule[] = []): boolean {
  return fileRules.clients.length > 0 || fileRules.hosts.length > 0 || Object.keys(fileRules.default).length > 0 || fileUrlRules.length > 0;
}

/** What the store holds at start: a document, nothing, or something this version cannot read. */
export type StoredAtStart = { doc: StoredPolicies } | { doc: undefined; unreadable: boolean };

/**
 * Which rules a proxy starts with, and whether it writes them for the fleet.
 * - `stored`: the fleet's, unchanged: seeded from these same file rules (`same seed`: they hold the
 *   run-time changes), or from other ones while this configuration names none (`adopted`) or
 *   differs without --replace-fleet-rules (`config differs`).
 * - `file`: the file's, written for the fleet: none stored (`seeded`), or --replace-fleet-rules
 *   (`replaced`).
 * - `local`: the file's, in this process only: nothing to seed (no rules, none stored), or the
 *   stored document is unreadable and no flag says to overwrite it (a newer version may have
 *   written it).
 */
export type StartDecision =
  | { use: 'stored'; doc: StoredPolicies; reason: 'same seed' | 'adopted' | 'config differs' }
  | { use: 'file'; doc: StoredPolicies; reason: 'seeded' | 'replaced' }
  | { use: 'local'; doc: StoredPolicies; reason: 'nothing to seed' | 'stored rules unreadable' };

/**
 * Consul's bootstrap rule ("first writer seeds, later ones adopt"): fleet state is replaced only
 * when asked (`replace`, --replace-fleet-rules), never by a configuration that names no rules.
 */
export function startingRules(fileRules: PolicyRules, stored: StoredAtStart, fileUrlRules: CrawlRule[] = [], replace = false): StartDecision {
  const seed = seedOf(fileRules, fileUrlRules);
  const fileDoc: StoredPolicies = { rules: fileRules, ...(fileUrlRules.length && { urlRules: fileUrlRules }), seed };
  const named = namesRules(fileRules, fileUrlRules);
  if (stored.doc === undefined) {
    if (stored.unreadable) return replace ? { use: 'file', doc: fileDoc, reason: 'replaced' } : { use: 'local', doc: fileDoc, reason: 'stored rules unreadable' };
    return named ? { use: 'file', doc: fileDoc, reason: 'seeded' } : { use: 'local', doc: fileDoc, reason: 'nothing to seed' };
  }
  if (stored.doc.seed === seed) return { use: 'stored', doc: stored.doc, reason: named ? 'same seed' : 'adopted' };
  if (replace) return { use: 'file', doc: fileDoc, reason: 'replaced' };
  return { use: 'stored', doc: stored.doc, reason: named ? 'config differs' : 'adopted' };
}

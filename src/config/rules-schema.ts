// Validation of `rules:` (URL rules for crawls), from the config file or the admin API. Errors
// name the key path and say what was expected and what arrived, as the rest of the config does:
//   rules[1].override[0]: expected no-store | no-cache | private | must-revalidate | expires, got "nostore"
import { ConfigError } from '../errors.js';
import { compileUrlPattern, CRAWL_SETTING_KEYS, OVERRIDE_TOKENS, type CrawlRule, type CrawlSettings, type OverrideToken, type RuleMatch } from '../policy/crawl-rules.js';
import { expectObject, parseFieldName, parseBoolean, parseChoice, parseDuration, parseGlob, parseInteger, parseSize, parseString, rejectUnknownKeys } from './schema.js';

/** An expression RE2 reads is at most this long (a URL pattern is a line, not a program). */
export const MAX_URL_PATTERN_LENGTH = 1024;

function parseMatch(path: string, value: unknown): RuleMatch {
  const raw = expectObject(path, value);
  if (raw['url'] !== undefined) {
    rejectUnknownKeys(path, raw, ['url']);
    const source = parseString(`${path}.url`, raw['url']);
    if (source.length > MAX_URL_PATTERN_LENGTH) {
      throw new ConfigError(`${path}.url: expected a regular expression of at most ${MAX_URL_PATTERN_LENGTH} characters, got ${source.length}`);
    }
    try {
      compileUrlPattern(source);
    } catch (error) {
      const reason = (error as Error).message.replace(/^error parsing regexp: /, '');
      throw new ConfigError(`${path}.url: expected a regular expression in RE2 syntax (no lookaround or backreferences), got ${JSON.stringify(source)} (${reason})`);
    }
    return { url: source };
  }
  rejectUnknownKeys(path, raw, ['host', 'path', 'url']);
  if (raw['host'] === undefined) throw new ConfigError(`${path}: expected { host, path? } or { url }, got ${JSON.stringify(raw)}`);
  const host = parseGlob(`${path}.host`, raw['host'], 'name');
  if (raw['path'] === undefined) return { host };
  const rulePath = parseGlob(`${path}.path`, raw['path'], 'wildcard');
  if (!rulePath.startsWith('/') && !rulePath.startsWith('*')) throw new ConfigError(`${path}.path: expected a path glob starting with /, got ${JSON.stringify(rulePath)}`);
  return { host, path: rulePath };
}

function parseList<T>(path: string, value: unknown, item: (path: string, value: unknown) => T): T[] {
  if (!Array.isArray(value)) throw new ConfigError(`${path}: expected a list, got ${JSON.stringify(value)}`);
  return value.map((v, i) => item(`${path}[${i}]`, v));
}

/** One rule's settings (everything but `match`). */
export function parseCrawlSettings(path: string, raw: Record<string, unknown>): CrawlSettings {
  const settings: CrawlSettings = {};
  for (const key of ['defaultTtl', 'minTtl', 'maxTtl', 'negativeTtl'] as const) {
    if (raw[key] !== undefined) settings[key] = parseDuration(`${path}.${key}`, raw[key]);
  }
  if (raw['heuristicPercent'] !== undefined) settings.heuristicPercent = parseInteger(`${path}.heuristicPercent`, raw['heuristicPercent'], 0, 100);
  if (raw['override'] !== undefined) {
    settings.override = parseList<OverrideToken>(`${path}.override`, raw['override'], (p, v) => parseChoice(p, v, OVERRIDE_TOKENS));
  }
  if (raw['statuses'] !== undefined) settings.statuses = parseList(`${path}.statuses`, raw['statuses'], (p, v) => parseInteger(p, v, 200, 599));
  if (raw['maxObjectSize'] !== undefined) settings.maxObjectSize = parseSize(`${path}.maxObjectSize`, raw['maxObjectSize']);
  if (raw['store'] !== undefined) settings.store = parseBoolean(`${path}.store`, raw['store']);
  for (const key of ['offline', 'record'] as const) {
    if (raw[key] !== undefined) settings[key] = parseBoolean(`${path}.${key}`, raw[key]);
  }
  if (raw['ignoreQuery'] !== undefined) settings.ignoreQuery = parseList(`${path}.ignoreQuery`, raw['ignoreQuery'], (p, v) => parseGlob(p, v, 'wildcard'));
  if (raw['sortQuery'] !== undefined) settings.sortQuery = parseBoolean(`${path}.sortQuery`, raw['sortQuery']);
  if (raw['varyIgnore'] !== undefined) settings.varyIgnore = parseList(`${path}.varyIgnore`, raw['varyIgnore'], parseFieldName);
  if (settings.minTtl !== undefined && settings.maxTtl !== undefined && settings.minTtl > settings.maxTtl) {
    throw new ConfigError(`${path}.minTtl: expected at most maxTtl (${settings.maxTtl} ms), got ${settings.minTtl} ms`);
  }
  return settings;
}

/** `rules:` from the config file, or the body of an admin PUT /rules. */
export function parseCrawlRules(path: string, value: unknown): CrawlRule[] {
  if (value === undefined || value === null) return [];
  return parseList(path, value, parseCrawlRule);
}

/** One URL rule, as in PUT /rules/<n> { "match": { "host": "*" }, "sortQuery": true }. */
export function parseCrawlRule(rulePath: string, item: unknown): CrawlRule {
  const raw = expectObject(rulePath, item);
  rejectUnknownKeys(rulePath, raw, ['match', ...CRAWL_SETTING_KEYS]);
  if (raw['match'] === undefined) throw new ConfigError(`${rulePath}.match: expected { host, path? } or { url }, got no value`);
  return { match: parseMatch(`${rulePath}.match`, raw['match']), ...parseCrawlSettings(rulePath, raw) };
}

// Validation of configuration values, from flags or the config file. Errors name the key path
// and say what was expected and what arrived:
//   policies.clients[2].validators: expected pass | strip | isolate, got "stirp"
import { resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseCidr, type Cidr } from '../guard/address-ranges.js';
import type { PortRange } from '../guard/guard.js';
import { LOG_LEVELS, type LogLevel } from '../observe/log.js';
import { redactUrl } from '../observe/redact.js';
import { compileGlob, GlobError, type GlobDialect, type GlobTest } from '../policy/glob.js';
import { parseClusterUrl, singleUrlProblem } from '../store/redis/url.js';
import type { ClientRule, HostRule, PolicyRules, RuleSettings } from '../policy/types.js';
import { REQUEST_CACHE_CONTROL_MODES, VALIDATOR_MODES } from '../policy/types.js';

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// `undefined` is what a flag given without its value arrives as (config/load.ts).
const got = (value: unknown): string =>
  value === undefined ? 'no value' : typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);

function fail(path: string, expected: string, value: unknown): never {
  throw new ConfigError(`${path}: expected ${expected}, got ${got(value)}`);
}

/** "256MiB", "16 MB", "1024" (bytes) or a number of bytes. */
export function parseSize(path: string, value: unknown): number {
  return parseQuantity(path, value, SIZE_UNITS, 'b', 'a size such as 256MiB, 16MB or 1024');
}

/** "30s", "250ms", "7d", "1500" (ms) or a number of milliseconds. */
export function parseDuration(path: string, value: unknown): number {
  return parseQuantity(path, value, DURATION_UNITS, 'ms', 'a duration such as 30s, 250ms or 7d');
}

/** A number and one of `units` (`bareUnit` when it has none), or a plain number: in the base unit, rounded down. */
function parseQuantity(path: string, value: unknown, units: Record<string, number>, bareUnit: string, expected: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = units[(match?.[2] || bareUnit).toLowerCase()];
  if (!match || unit === undefined) fail(path, expected, value);
  return Math.floor(Number(match[1]) * unit);
}

export function parseInteger(path: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(path, `an integer from ${min} to ${max}`, value);
  return n;
}

export function parseString(path: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(path, 'a non-empty string', value);
  return value;
}

/**
 * A glob (policy/glob.ts), checked by compiling it: one that is too long or uses syntax the
 * matcher does not read is refused when it is loaded, not when a request meets it.
 */
export function parseGlob(path: string, value: unknown, dialect: GlobDialect): string {
  const text = parseString(path, value);
  compileGlobAt(path, text, dialect);
  return text;
}

/** The compiled glob, or a ConfigError naming `path` (`rules[0].match.path: expected …, got "…"`). */
export function compileGlobAt(path: string, glob: string, dialect: GlobDialect): GlobTest {
  try {
    return compileGlob(glob, dialect);
  } catch (error) {
    if (!(error instanceof GlobError)) throw error;
    const shown = glob.length > 80 ? `${JSON.stringify(`${glob.slice(0, 80)}…`)} (${glob.length} characters)` : JSON.stringify(glob);
    throw new ConfigError(`${path}: expected ${error.expected}, got ${shown}`);
  }
}

/** A header field name (RFC 9110 §5.1 token), lower-cased. */
export function parseFieldName(path: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)) fail(path, 'a header field name such as CDN-Cache-Control', value);
  return value.toLowerCase();
}

export function parseBoolean(path: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  fail(path, 'true or false', value);
}

export function parseChoice<T extends string>(path: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) fail(path, choices.join(' | '), value);
  return value as T;
}

export function parseLogLevel(path: string, value: unknown): LogLevel {
  return parseChoice(path, value, LOG_LEVELS);
}

export function parseStore(path: string, value: unknown): string {
  const text = parseString(path, value);
  // The value may hold a password (redis://:pw@…): messages show it redacted.
  if (text === 'memory') return text;
  if (text.startsWith('disk:')) {
    const dir = text.slice('disk:'.length);
    if (!dir || dir.includes('\0')) fail(path, 'disk:PATH with the directory that holds the cache (disk:./cache, disk:/var/cache/etag-proxy)', text);
    return `disk:${resolvePath(dir)}`;
  }
  if (/^rediss?\+cluster:\/\/./i.test(text)) {
    try {
      parseClusterUrl(text);
    } catch (error) {
      throw new ConfigError(`${path}: ${(error as Error).message.replace(/^redis cluster url: /, '')} (${redactUrl(text)})`);
    }
    return text;
  }
  if (/^rediss?:\/\/./i.test(text)) {
    const problem = singleUrlProblem(text);
    if (problem) fail(path, problem, redactUrl(text));
    return text;
  }
  fail(path, 'memory, disk:PATH, redis://host:port/db, rediss://… or redis+cluster://host1:port1,host2:port2', redactUrl(text));
}

/** A list given as repeated flags, a comma-separated string or a YAML/JSON list. */
function listItems(path: string, value: unknown, expected: string): string[] {
  const items = (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'number' ? [String(item)] : typeof item === 'string' ? item.split(/[\s,]+/) : [item]));
  const texts = items.filter((item) => item !== '');
  if (!texts.length || texts.some((item) => typeof item !== 'string')) fail(path, expected, value);
  return texts as string[];
}

/** "10.0.0.0/8,192.168.1.7" or a list of CIDRs / addresses. */
export function parseCidrList(path: string, value: unknown): Cidr[] {
  const expected = 'CIDR ranges or addresses such as 10.0.0.0/8,192.168.1.7,fd00::/8';
  return listItems(path, value, expected).map((item) => parseCidr(item) ?? fail(path, expected, item));
}

/** "443,80,8000-8100" or a list of ports and ranges. */
export function parsePortList(path: string, value: unknown): PortRange[] {
  const expected = 'ports or ranges such as 443,80,8000-8100';
  return listItems(path, value, expected).map((item): PortRange => {
    const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    const from = Number(match?.[1]);
    const to = match?.[2] === undefined ? from : Number(match[2]);
    if (!match || from < 1 || to > 65535 || from > to) fail(path, expected, item);
    return [from, to];
  });
}

export function expectObject(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value);
  return value as Record<string, unknown>;
}

export function rejectUnknownKeys(path: string, object: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw new ConfigError(`${path ? `${path}.` : ''}${key}: unknown key (known: ${known.join(', ')})`);
  }
}

function parseSettings(path: string, raw: Record<string, unknown>): RuleSettings {
  const settings: RuleSettings = {};
  if (raw['validators'] !== undefined) settings.validators = parseChoice(`${path}.validators`, raw['validators'], VALIDATOR_MODES);
  if (raw['requestCacheControl'] !== undefined) {
    settings.requestCacheControl = parseChoice(`${path}.requestCacheControl`, raw['requestCacheControl'], REQUEST_CACHE_CONTROL_MODES);
  }
  if (raw['offline'] !== undefined) settings.offline = parseBoolean(`${path}.offline`, raw['offline']);
  return settings;
}

function parseRuleList<R extends ClientRule | HostRule>(path: string, value: unknown): R[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(path, 'a list of rules', value);
  return value.map((item, i) => {
    const rulePath = `${path}[${i}]`;
    const raw = expectObject(rulePath, item);
    rejectUnknownKeys(rulePath, raw, ['match', 'validators', 'requestCacheControl', 'offline']);
    const settings = parseSettings(rulePath, raw);
    if (settings.validators === undefined && settings.requestCacheControl === undefined && settings.offline === undefined) {
      fail(rulePath, 'at least one of validators, requestCacheControl, offline', raw);
    }
    return { match: parseGlob(`${rulePath}.match`, raw['match'], 'name'), ...settings } as R;
  });
}

/** `policies:` from the config file, or the body of an admin PUT /policies. */
export function parsePolicies(path: string, value: unknown): PolicyRules {
  const raw = expectObject(path, value ?? {});
  rejectUnknownKeys(path, raw, ['default', 'clients', 'hosts']);
  const defaults = expectObject(`${path}.default`, raw['default'] ?? {});
  rejectUnknownKeys(`${path}.default`, defaults, ['validators', 'requestCacheControl', 'offline']);
  return {
    default: parseSettings(`${path}.default`, defaults),
    clients: parseRuleList<ClientRule>(`${path}.clients`, raw['clients']),
    hosts: parseRuleList<HostRule>(`${path}.hosts`, raw['hosts']),
  };
}

/** One rule's settings, as in PUT /policies/clients/<id> { "validators": "strip" }. */
export function parseRuleSettings(path: string, value: unknown): RuleSettings {
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, ['validators', 'requestCacheControl', 'offline']);
  const settings = parseSettings(path, raw);
  if (settings.validators === undefined && settings.requestCacheControl === undefined && settings.offline === undefined) {
    fail(path, 'at least one of validators, requestCacheControl, offline', raw);
  }
  return settings;
}

/** A list of host globs: a YAML/JSON list, or a comma-separated string from a flag. */
export function parseHostList(path: string, value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string' && item.trim() !== '')) {
    fail(path, 'a list of host names or globs such as ["*.example.com"]', value);
  }
  return items.map((item, i) => {
    const glob = item.trim().toLowerCase();
    compileGlobAt(Array.isArray(value) ? `${path}[${i}]` : path, glob, 'name');
    return glob;
  });
}

/** intercept: true | false, or a list of host globs to intercept. */
export function parseIntercept(path: string, value: unknown): boolean | string[] {
  if (typeof value === 'boolean' || value === 'true' || value === 'false') return parseBoolean(path, value);
  if (Array.isArray(value)) return parseHostList(path, value);
  fail(path, 'true, false or a list of host globs such as ["*.example.com"]', value);
}

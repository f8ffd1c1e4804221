// Validation of --watch / `watch:`: absolute http(s) URLs, files of them (`@urls.txt`, one URL a
// line, `#` comments, an optional interval after the URL), and intervals. Files are read here, at
// load, so an unreadable one stops the proxy with exit 2 like any bad option. Errors name the
// flag or key, and the file and line.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import { expectObject, parseDuration, rejectUnknownKeys } from './schema.js';
import type { ProxyConfig, WatchedUrl } from './types.js';

/** Politeness floor: an interval below this is a load test, not a watch. */
export const MIN_WATCH_EVERY_MS = 1000;
/** node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay fires after 1 ms. */
export const MAX_WATCH_EVERY_MS = 24 * 86_400_000;
const URL_EXPECTED = 'an absolute http:// or https:// URL';

// What arrived, as an error shows it: every string redacted (STYLE.md invariant 4), since a
// watched URL may carry a password or a token (`http://u:pw@host/feed?api_key=…`).
const redactedStrings = (_key: string, value: unknown): unknown =>
  typeof value === 'string' ? value.split(/(\s+)/).map(redactUrl).join('') : value;
const got = (value: unknown): string => (value === undefined ? 'no value' : JSON.stringify(value, redactedStrings) ?? String(value));

export function parseWatchInterval(path: string, value: unknown): number {
  const ms = parseDuration(path, value);
  if (ms < MIN_WATCH_EVERY_MS) throw new ConfigError(`${path}: expected a duration of at least 1s, got ${got(value)}`);
  if (ms > MAX_WATCH_EVERY_MS) throw new ConfigError(`${path}: expected a duration of at most 24d, got ${got(value)}`);
  return ms;
}

function parseWatchUrl(path: string, value: unknown): string {
  let url: URL | undefined;
  try {
    if (typeof value === 'string') url = new URL(value.trim());
  } catch {
    // answered below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new ConfigError(`${path}: expected ${URL_EXPECTED}, got ${got(value)}`);
  }
  // The proxy answers a request-target with userinfo 400 (http/request-target.ts): never checkable.
  if (url.username || url.password) throw new ConfigError(`${path}: userinfo is not allowed in a watched URL, got ${got(value)}`);
  url.hash = ''; // never sent; two spellings of one URL are watched once
  return url.href;
}

/** A file of URLs: one a line, optionally followed by its interval (`http://a/feed 1m`). */
function readWatchFile(path: string, file: string, everyMs?: number): WatchedUrl[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const urls: WatchedUrl[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    // A URL holds no whitespace, so ` # …` ends the line's content.
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const [url, every, ...rest] = line.split(/\s+/);
    const where = `${path} (${file} line ${i + 1})`;
    if (rest.length) throw new ConfigError(`${where}: expected a URL and an optional interval, got ${got(line)}`);
    const own = every === undefined ? everyMs : parseWatchInterval(where, every);
    urls.push({ url: parseWatchUrl(where, url), ...(own !== undefined && { everyMs: own }) });
  });
  return urls;
}

/** A list item: `http://…`, `@file`, `{ url, every }` or `{ file, every }`. */
function parseItem(path: string, item: unknown, everyMs?: number): WatchedUrl[] {
  if (typeof item === 'string') {
    return item.startsWith('@') ? readWatchFile(path, item.slice(1), everyMs) : [{ url: parseWatchUrl(path, item), ...(everyMs !== undefined && { everyMs }) }];
  }
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new ConfigError(`${path}: expected ${URL_EXPECTED}, @file, { url, every } or { file, every }, got ${got(item)}`);
  }
  const raw = item as Record<string, unknown>;
  rejectUnknownKeys(path, raw, ['url', 'file', 'every']);
  const own = raw['every'] === undefined ? everyMs : parseWatchInterval(`${path}.every`, raw['every']);
  if ((raw['url'] === undefined) === (raw['file'] === undefined)) throw new ConfigError(`${path}: expected one of url or file, got ${got(item)}`);
  if (raw['file'] !== undefined) {
    if (typeof raw['file'] !== 'string' || raw['file'] === '') throw new ConfigError(`${path}.file: expected a file name, got ${got(raw['file'])}`);
    return readWatchFile(`${path}.file`, raw['file'], own);
  }
  return [{ url: parseWatchUrl(`${path}.url`, raw['url']), ...(own !== undefined && { everyMs: own }) }];
}

function parseItems(path: string, value: unknown): WatchedUrl[] {
  const items = Array.isArray(value) ? value : [value];
  // A flag's values are named by the flag (`--watch`), a file's list items by their index.
  return items.flatMap((item, i) => parseItem(Array.isArray(value) && !path.startsWith('--') ? `${path}[${i}]` : path, item));
}

/** Each URL once (the first mention wins, with its interval). */
function unique(urls: WatchedUrl[]): WatchedUrl[] {
  const seen = new Set<string>();
  return urls.filter((watched) => !seen.has(watched.url) && seen.add(watched.url));
}

/**
 * --watch (repeated: a list of URLs and @files), or the file's `watch:`: a URL, a list, or
 * `{ every, urls, files }` (whose `every` becomes the default interval).
 */
export function parseWatchList(config: ProxyConfig, path: string, value: unknown): WatchedUrl[] {
  if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) {
    throw new ConfigError(`${path}: expected ${URL_EXPECTED} or @file, got no value`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return unique(parseItems(path, value));
  const raw = expectObject(path, value);
  if (raw['url'] !== undefined || raw['file'] !== undefined) return unique(parseItem(path, raw));
  rejectUnknownKeys(path, raw, ['every', 'urls', 'files']);
  if (raw['every'] !== undefined) config.watchEveryMs = parseWatchInterval(`${path}.every`, raw['every']);
  const urls = raw['urls'] === undefined ? [] : parseItems(`${path}.urls`, raw['urls']);
  const files = raw['files'] === undefined ? [] : (Array.isArray(raw['files']) ? raw['files'] : [raw['files']]).flatMap((file, i) => {
    const where = `${path}.files[${i}]`;
    if (typeof file !== 'string' || file === '') throw new ConfigError(`${where}: expected a file name, got ${got(file)}`);
    return readWatchFile(where, file);
  });
  if (!urls.length && !files.length) throw new ConfigError(`${path}: expected urls or files to watch, got ${got(value)}`);
  return unique([...urls, ...files]);
}

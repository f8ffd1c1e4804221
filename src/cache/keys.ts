// The only place that builds cache keys: the URL key (with a crawl rule's query levers and
// the origin's No-Vary-Search), the variant id from Vary, the fill-lock key. Hashing keeps
// Redis keys short and bounded whatever the URL length. Only the key is normalised: the
// origin always receives the URL as the client sent it.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { boundedMemo } from '../bounded-memo.js';
import type { QueryRule } from './no-vary-search.js';

function hash(text: string): string {
  return createHash('sha1').update(text).digest('base64url');
}

// Hashing costs more than the lookup it serves, and hot URLs repeat: the keys of the 10,000
// most recently used URLs are kept (an LRU, so a full memo never drops the hot ones at once),
// within about 4 MiB (long URLs take their share of it, bounded-memo.ts).
const MEMO_SIZE = 10_000;
const MEMO_BYTES = 4 * 1024 * 1024;
const recentUrlKeys = boundedMemo<string>('url-keys', MEMO_SIZE, MEMO_BYTES, (key) => key.length);

/** The URL without its query: what No-Vary-Search hints are remembered by. */
export function pathKey(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}${url.pathname}`;
}

const hasQueryLevers = (rule: QueryRule | undefined): rule is QueryRule => !!rule && (!!rule.ignore || !!rule.sort || !!rule.noVary);

// Keys under a query rule: one memo for every rule, keyed by what the rule does and the URL. (A
// memo per rule object cost about 200 KiB each, and the rule engine hands out one per URL.)
const ruleUrlKeys = boundedMemo<string>('rule-url-keys', MEMO_SIZE, MEMO_BYTES, (key) => key.length);
const ruleSignatures = new WeakMap<QueryRule, string>();
// A rule's ignoreQuery is a matcher compiled once per rules change and shared by every resolution
// of that rule: it is told apart by identity.
const ignoreIds = new WeakMap<NonNullable<QueryRule['ignore']>, number>();
let lastIgnoreId = 0;

function ignoreId(ignore: NonNullable<QueryRule['ignore']>): number {
  let id = ignoreIds.get(ignore);
  if (id === undefined) ignoreIds.set(ignore, (id = ++lastIgnoreId));
  return id;
}

function signatureOf(rule: QueryRule): string {
  let signature = ruleSignatures.get(rule);
  if (signature === undefined) {
    const { noVary } = rule;
    const vary = !noVary ? null : 'all' in noVary ? { except: [...noVary.except] } : { names: [...noVary.names] };
    signature = JSON.stringify([!!rule.sort, rule.ignore ? ignoreId(rule.ignore) : 0, vary]);
    ruleSignatures.set(rule, signature);
  }
  return signature;
}

export function urlKey(url: URL, rule?: QueryRule): string {
  if (hasQueryLevers(rule)) {
    const memoKey = `${signatureOf(rule)}\n${url.href}`;
    let key = ruleUrlKeys.get(memoKey);
    if (key === undefined) {
      key = hash(`${pathKey(url)}${normalisedQuery(url.search, rule)}`);
      ruleUrlKeys.set(memoKey, key);
    }
    return key;
  }
  const href = url.href;
  let key = recentUrlKeys.get(href);
  if (key === undefined) {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    // Scheme, lower-case host, explicit port and path+query: `http://example.com:80/a?b`.
    key = hash(`${url.protocol}//${url.hostname.toLowerCase()}:${port}${url.pathname}${url.search}`);
    recentUrlKeys.set(href, key);
  }
  return key;
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * The query as the key sees it: parameters whose (decoded, application/x-www-form-urlencoded)
 * name the rule ignores or No-Vary-Search says do not matter are left out; with sort, the rest
 * are ordered by name (stable: repeated names keep their order, as the draft's key-order).
 */
export function normalisedQuery(search: string, rule: QueryRule): string {
  if (search === '' || search === '?') return '';
  let pairs = search
    .slice(1)
    .split('&')
    .filter(Boolean)
    .map((raw) => ({ raw, name: decodeName(raw.split('=')[0]!) }));
  const { ignore, noVary } = rule;
  pairs = pairs.filter(({ name }) => {
    if (ignore?.(name)) return false;
    if (!noVary) return true;
    return 'all' in noVary ? noVary.except.has(name) : !noVary.names.has(name);
  });
  if (rule.sort) pairs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return pairs.length ? `?${pairs.map((p) => p.raw).join('&')}` : '';
}

/**
 * A pseudo Vary name for entries stored per client (a crawl rule that overrides `private` or
 * stores a cookie-setting response): the client's verified identity (ClientIdentity.verified,
 * never a claimed label) selects the variant. '@' is no token character (RFC 9110 §5.6.2), so
 * no origin's Vary can name it.
 */
export const PER_CLIENT = '@client';

/** The Vary names an entry is stored under: the origin's, plus the client identity when per client. */
export function storedVary(vary: string[] | null, perClient: boolean, varyIgnore?: readonly string[]): string[] | null {
  // varyIgnore: a crawl rule treats these Vary names as not varying (rotating User-Agents).
  const names = varyIgnore?.length && vary ? vary.filter((name) => !varyIgnore.includes(name)) : vary;
  const kept = names?.length ? names : null;
  if (!perClient) return kept;
  return [...(kept ?? []), PER_CLIENT].sort();
}

/** Lower-case field names of a Vary value, sorted; null when there is no Vary. */
export function varyNames(vary: string | string[] | undefined): string[] | null {
  if (!vary) return null;
  const names = (Array.isArray(vary) ? vary.join(',') : vary)
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  return names.length ? [...new Set(names)].sort() : null;
}

/**
 * The request's values of the Vary fields, normalised (RFC 9111 §4.1: "selecting header fields
 * ... normalized"): whitespace around list elements always; for the content-negotiation lists
 * below also case, order and the q-value spelling (`q=1` is the default, `q=0.50` is `q=0.5`),
 * so `en-US, fr` and `fr, EN-us` select one variant.
 */
export function variantId(vary: string[], headers: IncomingHttpHeaders, verifiedClient = ''): string {
  const parts = vary.map((name) => {
    if (name === PER_CLIENT) return `${name}:${verifiedClient}`;
    const value = headers[name];
    // An absent field matches only an absent one: `Accept-Encoding:` (empty, identity only, RFC
    // 9110 §12.5.3) is not a request without it. Absent keeps the part entries were keyed with
    // (`name:`); present but empty is the bare name, which no value can produce.
    if (value === undefined) return `${name}:`;
    const text = (Array.isArray(value) ? value.join(',') : value).replace(/\s*,\s*/g, ',').trim();
    const normalised = NEGOTIATION_LISTS.has(name) ? normaliseNegotiationList(text) : text;
    return normalised === '' ? name : `${name}:${normalised}`;
  });
  return hash(parts.join('\n'));
}

// RFC 9110 §12.5: lists of case-insensitive tokens (or language ranges) with optional weights.
const NEGOTIATION_LISTS: ReadonlySet<string> = new Set(['accept-language', 'accept-encoding', 'accept-charset']);

function normaliseNegotiationList(text: string): string {
  return text
    .toLowerCase()
    .split(',')
    .filter(Boolean)
    .map((element) => {
      const [item = '', ...params] = element.split(';').map((p) => p.trim());
      const weight = params.find((p) => /^q=/.test(p));
      const q = weight === undefined ? 1 : Number(weight.slice(2));
      return Number.isFinite(q) && q !== 1 ? `${item};q=${q}` : item;
    })
    .sort()
    .join(',');
}

/** Digest of a request's Cookie field: what a cookie-bound entry is bound to (EntryMeta.boundTo). */
export function cookieBinding(cookie: string | undefined): string {
  return cookie === undefined || cookie === '' ? '' : hash(`cookie:${cookie}`);
}

export function fillKey(url: string, variant: string | null): string {
  return variant ? `${url}:${variant}` : url;
}

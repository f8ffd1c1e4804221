// Building stored entries from origin responses and turning them back into response heads.
// What is kept: the end-to-end fields of the origin's response, minus Set-Cookie (a shared
// cache must not hand one client's cookie to another). Age is kept for the freshness maths
// and replaced on delivery. The cache policy is built from those same fields, so its copy of
// them is not stored twice: it is rebuilt from `headers` (semantics.policyOf).
import type { IncomingHttpHeaders } from 'node:http';
import { endToEnd } from '../http/hop-by-hop.js';
import { directiveNames } from '../http/cache-control.js';
import { PROCESS_NAME } from '../observe/process-name.js';
import { redactUrl } from '../observe/redact.js';
import { ENTRY_META_VERSION, type EntryMeta } from '../store/types.js';
import type { ResponsePolicy } from './response-policy.js';
import type { StoredPolicy } from './stored-policy.js';

// RFC 6265 Set-Cookie, and RFC 2965's obsolete Set-Cookie2, which some origins still send.
const NOT_STORED = ['set-cookie', 'set-cookie2'] as const;

export function storedHeaders(originHeaders: IncomingHttpHeaders): Record<string, string | string[]> {
  return endToEnd(originHeaders, NOT_STORED);
}

/**
 * The fields of an origin response that are never stored, as [name, value, …] lines, or null
 * when it has none: a 304 that refreshes an entry still owes them to the client whose request
 * it answered (and to no other).
 */
export function unstoredLines(originHeaders: IncomingHttpHeaders): string[] | null {
  let lines: string[] | null = null;
  for (const name of NOT_STORED) {
    const value = originHeaders[name];
    if (value === undefined) continue;
    lines ??= [];
    for (const line of Array.isArray(value) ? value : [String(value)]) lines.push(name, line);
  }
  return lines;
}

/**
 * The response fields the cache policy is built from: the stored ones, plus a mark when the
 * response sets a cookie without saying it may be shared (`public` or `s-maxage`): such a
 * response is never stored (semantics.unstorableReason, invariant 2). A shareable one is
 * stored without its Set-Cookie and gets its freshness as usual (cache/freshness.ts gives a
 * response that sets a cookie none without `public`).
 */
export function policyHeaders(originHeaders: IncomingHttpHeaders): Record<string, string> {
  const headers = semanticsHeaders(storedHeaders(originHeaders));
  const setsCookie = originHeaders['set-cookie'] !== undefined || originHeaders['set-cookie2'] !== undefined;
  if (setsCookie && !marksShareable(headers['cache-control'])) headers['set-cookie'] = '(not stored)';
  return headers;
}

/** Does Cache-Control say a shared cache may hand this to anyone (`public` or `s-maxage`)? */
export function marksShareable(cacheControl: string | undefined): boolean {
  const names = directiveNames(cacheControl);
  return names.has('public') || names.has('s-maxage');
}

/**
 * The policy's stored form, with its own copy of the fields only when they differ from the
 * entry's headers (`known`: the caller has checked they do not).
 */
function storedPolicy(policy: ResponsePolicy, headers: Record<string, string | string[]>, known = false): StoredPolicy {
  if (known) return policy.toStored(false);
  const own = semanticsHeaders(headers);
  const fields = policy.fields;
  const same = Object.keys(fields).length === Object.keys(own).length && Object.entries(own).every(([k, v]) => fields[k] === v);
  return policy.toStored(!same);
}

/** The URL kept in an entry: never a password (userinfo) or a credential in the query (invariant 4). */
export function storedUrl(target: URL): string {
  return redactUrl(`${target.protocol}//${target.host}${target.pathname}${target.search}`);
}

export function buildMeta(
  status: number,
  headers: Record<string, string | string[]>,
  policy: ResponsePolicy,
  storedAt: number,
  bodyLength: number,
  extra: {
    boundTo?: string | undefined;
    url?: string | undefined;
    /** The caller knows the policy's fields equal `headers` (compactPolicy need not compare them). */
    fieldsMatch?: boolean;
  } = {},
): EntryMeta {
  const meta: EntryMeta = {
    v: ENTRY_META_VERSION,
    status,
    headers,
    policy: storedPolicy(policy, headers, extra.fieldsMatch),
    storedAt,
    bodyLength,
    storedBy: PROCESS_NAME,
  };
  const etag = single(headers['etag']);
  const lastModified = single(headers['last-modified']);
  if (etag !== undefined) meta.etag = etag;
  if (lastModified !== undefined) meta.lastModified = lastModified;
  if (extra.boundTo !== undefined) meta.boundTo = extra.boundTo;
  if (extra.url !== undefined) meta.url = extra.url;
  return meta;
}

export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Flat [name, value, …] list for writeHead, with `extra` fields replacing stored ones. */
export function responseHead(
  stored: Record<string, string | string[]>,
  extra: Record<string, string>,
  only?: ReadonlySet<string>,
  except?: ReadonlySet<string>,
): string[] {
  const head: string[] = [];
  for (const [name, value] of Object.entries(stored)) {
    if (name in extra || (only && !only.has(name)) || except?.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) head.push(name, v);
    else head.push(name, value);
  }
  for (const [name, value] of Object.entries(extra)) head.push(name, value);
  return head;
}

/** Flatten node's header object to the string map the cache policy reads (lists joined with ", "). */
export function semanticsHeaders(headers: IncomingHttpHeaders | Record<string, string | string[]>, without?: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || without?.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

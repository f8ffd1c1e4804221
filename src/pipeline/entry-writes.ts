// Writing entries: a whole new entry at the end of its body, or new metadata after a 304.
// Store failures are logged and swallowed here: the client has been (or will be) served anyway.
import type { IncomingHttpHeaders } from 'node:http';
import type { ResponsePolicy } from '../cache/response-policy.js';
import { buildMeta, marksShareable, semanticsHeaders, single, storedHeaders, storedUrl } from '../cache/entry.js';
import { cookieBinding, PER_CLIENT, storedVary, variantId, varyNames } from '../cache/keys.js';
import type { OriginResponse } from '../http/origin-response.js';
import type { CrawlSettings } from '../policy/crawl-rules.js';
import type { SemanticsRequest } from '../cache/semantics.js';
import type { Entry, EntryAddress, FillLock } from '../store/types.js';
import type { ProxyContext } from './context.js';
import { sameFieldsOutside } from '../cache/same-fields.js';
import { carryStoredHead } from './stored-head.js';

const DATE: ReadonlySet<string> = new Set(['date']);

/** `perClientId`: the entry is stored for this verified client identity only (see keys.ts PER_CLIENT). */
export function addressFor(
  url: string,
  originHeaders: IncomingHttpHeaders,
  clientHeaders: IncomingHttpHeaders,
  perClientId?: string,
  varyIgnore?: readonly string[],
): EntryAddress {
  const vary = storedVary(varyNames(originHeaders['vary']), perClientId !== undefined, varyIgnore);
  return { url, vary, variant: vary ? variantId(vary, clientHeaders, perClientId) : null };
}

export async function commitEntry(
  ctx: ProxyContext,
  address: EntryAddress,
  originRes: OriginResponse,
  policy: ResponsePolicy,
  body: Buffer,
  options: {
    /** The Cookie field of the request the response was made for. */
    clientCookie?: string;
    /** Stored under the client's id (a crawl rule's per-client override): already one client's. */
    perClient?: boolean;
    /** Recorded for replay: kept at least this long whatever its freshness (--record). */
    keepAtLeastMs?: number;
    /** The request's target: its URL is kept (redacted) so purge by prefix or host can match. */
    target?: URL;
    /** Kept because of a crawl rule's override (storageVerdict's ruleOverridden); default: the policy's overrides. */
    ruleOverride?: boolean;
  } = {},
): Promise<Entry | null> {
  const headers = storedHeaders(originRes.headers);
  const keepAtLeastMs = options.keepAtLeastMs ?? 0;
  // Invariant 2: unless the origin marks it shareable, an answer serves only requests with the
  // same cookies as the one it was made for (none: ''). A per-client entry is bound by its key.
  const shared = options.perClient || marksShareable(single(headers['cache-control']));
  const boundTo = shared ? undefined : cookieBinding(options.clientCookie);
  const url = options.target ? storedUrl(options.target) : undefined;
  const meta = buildMeta(originRes.statusCode ?? 200, headers, policy, ctx.now(), body.length, { boundTo, url });
  if (options.ruleOverride ?? ctx.semantics.ruleOverrides(policy).length > 0) meta.ruleOverride = true;
  const entry = { meta, body };
  const ttl = Math.max(keepAtLeastMs, ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs, ctx.config.serveStaleIfDisconnectedMs));
  try {
    await ctx.backend.entries.put(address, entry, ttl);
    return entry;
  } catch (error) {
    ctx.logger.debug('entry not stored', { reason: (error as Error).message });
    return null;
  }
}

/** The request a revalidation was made for: its fields and client id select a variant. */
export interface SelectingRequest {
  headers: IncomingHttpHeaders;
  clientId: string;
}

/**
 * Where an entry belongs once a 304's fields are merged into it: `address` when its Vary names
 * did not change, another address when they did, null when it may not be stored any more.
 *
 * RFC 9111 §4.3.4 updates the stored response with the 304's fields, Vary included, and §4.1
 * then selects it by the request values the new Vary names. Those values of the request that
 * first stored it are not kept, so the old address is no longer valid for anyone. The 304
 * answered *this* request, so the entry is valid for this request's values: it moves to that
 * variant (and the URL's variants chosen on the old names go, as on any store with new Vary
 * names). `Vary: *` matches no request (§4.1): the entry is dropped, and only this request gets it.
 */
function refreshedAddress(address: EntryAddress, merged: Record<string, string | string[]>, selecting: SelectingRequest, varyIgnore?: readonly string[]): EntryAddress | null {
  const names = varyNames(merged['vary']);
  if (names?.includes('*')) return null;
  const perClient = address.vary?.includes(PER_CLIENT) ?? false;
  const vary = storedVary(names, perClient, varyIgnore);
  if (vary === address.vary || (vary && address.vary && vary.join('\n') === address.vary.join('\n'))) return address;
  return { url: address.url, vary, variant: vary ? variantId(vary, selecting.headers, perClient ? selecting.clientId : undefined) : null };
}

/** The refreshed entry and its policy. */
export interface Refreshed {
  entry: Entry;
  policy: ResponsePolicy;
}

/**
 * RFC 9111 §4.3.4: fold a 304's fields into the stored entry; the body is untouched.
 * `fill`: the revalidation's fill lock, which the store may release in the same write.
 * Synchronous when the store writes at once (memory): a revalidation then waits for no promise.
 */
export function refreshEntry(
  ctx: ProxyContext,
  address: EntryAddress,
  entry: Entry,
  semanticsReq: SemanticsRequest,
  notModified: OriginResponse,
  selecting: SelectingRequest,
  rule?: CrawlSettings,
  fill?: FillLock,
): Refreshed | Promise<Refreshed> {
  const before = entry.meta;
  const headers = ctx.semantics.mergeNotModified(before.headers, storedHeaders(notModified.headers));
  // The usual 304 changes Date alone: the policy is then copied from the stored one, not rebuilt.
  const onlyDate = headers === before.headers || sameFieldsOutside(before.headers, headers, DATE);
  const refreshed = onlyDate ? ctx.semantics.refreshedPolicy(before, semanticsReq, headers['date'], rule) : null;
  const policy = refreshed ?? ctx.semantics.policyFor(semanticsReq, { status: before.status, headers: semanticsHeaders(headers) }, rule);
  // Its fields equal ours when the old ones did (refreshedPolicy requires it) and the new Date is canonical.
  const fieldsMatch = !!refreshed && refreshed.fields['date'] === headers['date'];
  const meta = buildMeta(before.status, headers, policy, ctx.now(), entry.body.length, { boundTo: before.boundTo, url: before.url, fieldsMatch });
  if (ctx.semantics.ruleOverrides(policy).length) meta.ruleOverride = true;
  if (onlyDate) carryStoredHead(before, meta);
  // The next lookups of the refreshed entry reuse this policy instead of rebuilding it from meta.
  ctx.semantics.adopt(meta, policy);
  const ttl = ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs, ctx.config.serveStaleIfDisconnectedMs);
  const moved = headers['vary'] === before.headers['vary'] ? address : refreshedAddress(address, headers, selecting, rule?.varyIgnore);
  const result: Refreshed = { entry: { meta, body: entry.body }, policy };
  const notRefreshed = (error: unknown): Refreshed => {
    ctx.logger.debug('entry not refreshed', { reason: (error as Error).message });
    return result;
  };
  let writing: Promise<void> | void;
  try {
    if (moved === address) writing = ctx.backend.entries.refresh(address, meta, ttl, fill, entry);
    else if (moved) writing = ctx.backend.entries.put(moved, { meta, body: entry.body }, ttl);
    else writing = ctx.backend.entries.invalidate(address.url);
  } catch (error) {
    return notRefreshed(error);
  }
  return writing ? writing.then(() => result, notRefreshed) : result;
}

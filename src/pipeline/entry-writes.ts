// Writing entries: a whole new entry at the end of its body, or new metadata after a 304.
// Store failures are logged and swallowed here: the client has been (or will be) served anyway.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type CachePolicy from 'http-cache-semantics';
import { buildMeta, semanticsHeaders, storedHeaders } from '../cache/entry.js';
import { storedVary, variantId, varyNames } from '../cache/keys.js';
import type { CrawlSettings } from '../policy/crawl-rules.js';
import type { SemanticsRequest } from '../cache/semantics.js';
import type { Entry, EntryAddress } from '../store/types.js';
import type { ProxyContext } from './context.js';

/** `perClientId`: the entry is stored for this client only (see keys.ts PER_CLIENT). */
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
  originRes: IncomingMessage,
  policy: CachePolicy,
  body: Buffer,
  /** Recorded for replay: kept at least this long whatever its freshness (--record). */
  keepAtLeastMs = 0,
): Promise<Entry | null> {
  const meta = buildMeta(originRes.statusCode ?? 200, storedHeaders(originRes.headers), policy, ctx.now(), body.length);
  if (ctx.semantics.ruleOverrides(policy).length) meta.ruleOverride = true;
  const entry = { meta, body };
  const ttl = Math.max(keepAtLeastMs, ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs));
  try {
    await ctx.backend.entries.put(address, entry, ttl);
    return entry;
  } catch (error) {
    ctx.logger.debug('entry not stored', { reason: (error as Error).message });
    return null;
  }
}

/** RFC 9111 §4.3.4: fold a 304's fields into the stored entry; the body is untouched. */
export async function refreshEntry(
  ctx: ProxyContext,
  address: EntryAddress,
  entry: Entry,
  semanticsReq: SemanticsRequest,
  notModified: IncomingMessage,
  rule?: CrawlSettings,
): Promise<{ entry: Entry; policy: CachePolicy }> {
  const headers = ctx.semantics.mergeNotModified(entry.meta.headers, storedHeaders(notModified.headers));
  const policy = ctx.semantics.policyFor(semanticsReq, { status: entry.meta.status, headers: semanticsHeaders(headers) }, rule);
  const meta = buildMeta(entry.meta.status, headers, policy, ctx.now(), entry.body.length);
  if (ctx.semantics.ruleOverrides(policy).length) meta.ruleOverride = true;
  const ttl = ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs);
  try {
    await ctx.backend.entries.refresh(address, meta, ttl);
  } catch (error) {
    ctx.logger.debug('entry not refreshed', { reason: (error as Error).message });
  }
  return { entry: { meta, body: entry.body }, policy };
}

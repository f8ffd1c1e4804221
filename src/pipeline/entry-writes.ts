// Writing entries: a whole new entry at the end of its body, or new metadata after a 304.
// Store failures are logged and swallowed here: the client has been (or will be) served anyway.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type CachePolicy from 'http-cache-semantics';
import { buildMeta, semanticsHeaders, storedHeaders, storedUrl } from '../cache/entry.js';
import { variantId, varyNames } from '../cache/keys.js';
import type { SemanticsRequest } from '../cache/semantics.js';
import type { Entry, EntryAddress } from '../store/types.js';
import type { ProxyContext } from './context.js';

export function addressFor(url: string, originHeaders: IncomingHttpHeaders, clientHeaders: IncomingHttpHeaders): EntryAddress {
  const vary = varyNames(originHeaders['vary']);
  return { url, vary, variant: vary ? variantId(vary, clientHeaders) : null };
}

export async function commitEntry(
  ctx: ProxyContext,
  address: EntryAddress,
  originRes: IncomingMessage,
  policy: CachePolicy,
  body: Buffer,
  target: URL,
): Promise<Entry | null> {
  const meta = buildMeta(originRes.statusCode ?? 200, storedHeaders(originRes.headers), policy, ctx.now(), body.length, storedUrl(target));
  const entry = { meta, body };
  const ttl = ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs);
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
): Promise<{ entry: Entry; policy: CachePolicy }> {
  const headers = ctx.semantics.mergeNotModified(entry.meta.headers, storedHeaders(notModified.headers));
  const policy = ctx.semantics.policyFor(semanticsReq, { status: entry.meta.status, headers: semanticsHeaders(headers) });
  const meta = buildMeta(entry.meta.status, headers, policy, ctx.now(), entry.body.length, entry.meta.url);
  const ttl = ctx.semantics.storeTtlMs(policy, !!(meta.etag || meta.lastModified), ctx.config.keepValidatorsMs);
  try {
    await ctx.backend.entries.refresh(address, meta, ttl);
  } catch (error) {
    ctx.logger.debug('entry not refreshed', { reason: (error as Error).message });
  }
  return { entry: { meta, body: entry.body }, policy };
}

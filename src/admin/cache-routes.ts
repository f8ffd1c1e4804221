// GET /cache?url=… (every stored variant of a URL, as the store holds it) and DELETE /cache by
// url, prefix or host. A prefix or host purge walks the store page by page (Redis SCAN in this
// namespace, never KEYS) and matches the URL each entry keeps in its meta (cache/purge-match.ts);
// with ?cursor= it does one page and says where to go on, so a client can show progress.
import { urlKey } from '../cache/keys.js';
import { purgeMatches, purgeTarget, type PurgeTarget } from '../cache/purge-match.js';
import { ProxyError, StoreUnavailable } from '../errors.js';
import type { Proxy } from '../index.js';
import type { Logger } from '../observe/log.js';
import { redactUrl } from '../observe/redact.js';
import { optionalQueryUrl } from './query-url.js';
import type { EntryStore, StoredVariant } from '../store/types.js';
import type { AdminReply, AdminRequest, AdminRoute } from './admin-route.js';

/** Keys per SCAN step: large enough to be quick, small enough that Redis never stalls on one. */
export const PURGE_PAGE_KEYS = 500;

function unavailable(error: unknown): never {
  if (!(error instanceof StoreUnavailable)) throw error;
  throw new ProxyError(503, 'store_unavailable', `store unavailable (${error.message})`);
}


function needs<K extends 'variants' | 'scanPage'>(entries: EntryStore, method: K): NonNullable<EntryStore[K]> {
  const fn = entries[method];
  if (!fn) throw new ProxyError(501, 'not_implemented', `this store cannot ${method === 'variants' ? 'list its variants' : 'be walked'}`);
  return fn.bind(entries) as NonNullable<EntryStore[K]>;
}

export function createCacheRoutes(proxy: Proxy, logger: Logger): AdminRoute[] {
  const { ctx } = proxy;
  const entries = () => ctx.backend.entries;

  const describe = (variant: StoredVariant) => {
    const { meta } = variant;
    const policy = ctx.semantics.policyOf(meta);
    return {
      variant: variant.address.variant,
      vary: variant.address.vary,
      status: meta.status,
      headers: meta.headers,
      etag: meta.etag ?? null,
      lastModified: meta.lastModified ?? null,
      // Written (stored, or refreshed by a 304) at this time by this process (observe/process-name.ts).
      storedAt: new Date(meta.storedAt).toISOString(),
      storedBy: meta.storedBy ?? null,
      ageSeconds: ctx.semantics.ageSeconds(policy),
      // Negative once stale: how long ago it stopped being fresh.
      freshnessLeftSeconds: ctx.semantics.ttlSeconds(policy),
      bodyBytes: meta.bodyLength,
      storedBytes: variant.bytes,
      ...(variant.expiresInMs !== undefined && { expiresInSeconds: Math.round(variant.expiresInMs / 1000) }),
    };
  };

  async function inspect(req: AdminRequest): Promise<AdminReply> {
    const target = optionalQueryUrl(req.query);
    if (!target) throw new ProxyError(400, 'bad_request', 'give ?url=<absolute URL>');
    const variants = await needs(entries(), 'variants')(urlKey(target)).catch(unavailable);
    if (!variants.length) throw new ProxyError(404, 'not_found', `nothing stored for ${redactUrl(target.href)}`);
    return { status: 200, body: { url: redactUrl(target.href), key: urlKey(target), variants: variants.map(describe) } };
  }

  async function purgeUrl(target: URL): Promise<AdminReply> {
    const key = urlKey(target);
    const variants = await needs(entries(), 'variants')(key).catch(unavailable);
    await entries().invalidate(key).catch(unavailable);
    logger.info('purged', { url: redactUrl(target.href), variants: variants.length });
    return { status: 200, body: { purged: variants.length > 0 ? 1 : 0, variants: variants.length } };
  }

  /** One page of the walk: the matching URLs are removed before the next page is read. */
  async function purgePage(target: PurgeTarget, cursor: string): Promise<{ cursor: string; scanned: number; purged: number }> {
    const page = await needs(entries(), 'scanPage')(cursor, PURGE_PAGE_KEYS).catch(unavailable);
    const matched = page.entries.filter((entry) => entry.href !== undefined && purgeMatches(target, entry.href));
    await Promise.all(matched.map((entry) => entries().invalidate(entry.url))).catch(unavailable);
    return { cursor: page.cursor, scanned: page.entries.length, purged: matched.length };
  }

  async function purge(req: AdminRequest): Promise<AdminReply> {
    const url = optionalQueryUrl(req.query);
    const target = purgeTarget(req.query);
    if (url && target) throw new ProxyError(400, 'bad_request', 'give one of url, prefix or host, not several');
    if (url) return purgeUrl(url);
    if (!target) throw new ProxyError(400, 'bad_request', 'give ?url=<absolute URL>, ?prefix=<URL prefix> or ?host=<host>');
    const what = target.kind === 'prefix' ? { prefix: redactUrl(target.prefix) } : { host: target.host };
    const single = req.query.get('cursor');
    if (single !== null) {
      if (!/^[0-9:]+$/.test(single)) throw new ProxyError(400, 'bad_request', `cursor: expected the cursor of the previous answer, got ${JSON.stringify(single)}`);
      const page = await purgePage(target, single);
      if (page.purged) logger.info('purged', { ...what, urls: page.purged });
      return { status: 200, body: { ...page, done: page.cursor === '0' } };
    }
    let cursor = '0';
    let scanned = 0;
    let purged = 0;
    do {
      const page = await purgePage(target, cursor);
      ({ cursor } = page);
      scanned += page.scanned;
      purged += page.purged;
    } while (cursor !== '0');
    logger.info('purged', { ...what, urls: purged, scanned });
    return { status: 200, body: { purged, scanned, cursor: '0', done: true } };
  }

  return [{ pattern: /^\/cache$/, methods: { GET: inspect, DELETE: purge } }];
}

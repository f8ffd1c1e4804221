// Change detection for pollers: when a request replaced a stored response with a 200 whose
// ETag, Last-Modified or body digest differs (RFC 9530 Repr-Digest when the origin sends one),
// append an event to the backend's ChangeLog. Fed from finish, off the response's path (the
// append is not awaited by the client), and from a background stale-while-revalidate refresh.
// An unchanged revalidation is no event: it counts as "checked, unchanged" (a count and a time).
import { createHash } from 'node:crypto';
import type { ProxyContext } from '../pipeline/context.js';
import type { Tx } from '../pipeline/transaction.js';
import type { Entry, RepresentationId } from '../store/types.js';

/** `sha-256=:…:` from the origin's Repr-Digest, else computed from the body. */
export function digestOf(entry: Entry): string {
  const given = entry.meta.headers['repr-digest'];
  const text = Array.isArray(given) ? given.join(',') : given;
  const sha256 = text && /(?:^|,)\s*sha-256=(:[A-Za-z0-9+/=]+:)/.exec(text)?.[1];
  if (sha256) return `sha-256=${sha256}`;
  return `sha-256=:${createHash('sha256').update(entry.body).digest('base64')}:`;
}

export function representationOf(entry: Entry): RepresentationId {
  return { etag: entry.meta.etag ?? null, lastModified: entry.meta.lastModified ?? null, digest: digestOf(entry) };
}

/** A new representation: any identifier differs (the body digest settles weak or absent tags). */
export function isChange(before: RepresentationId, after: RepresentationId): boolean {
  return before.etag !== after.etag || before.lastModified !== after.lastModified || before.digest !== after.digest;
}

/** What one revalidation found: `after` is the entry it stored, or null for a 304 (nothing stored). */
export interface Revalidated {
  urlKey: string;
  before: Entry;
  after: Entry | null;
  /** The request's target, for the event's URL when the entry keeps none. */
  target?: URL;
  client: string | null;
}

/**
 * A new representation appends an event; the same one (a 304, or a 200 with the same
 * identifiers) only counts as "checked, unchanged" and moves the URL's last-checked time.
 * Off the response's path: the store call is background work that close() waits for.
 */
export function recordRevalidation(ctx: ProxyContext, found: Revalidated): void {
  const changes = ctx.backend.changes;
  const { before, after } = found;
  if (!changes || (after && after.meta.status !== 200)) return;
  // A 304 (no `after`) is unchanged by definition: the stored body is not hashed for it.
  const now = after && representationOf(after);
  const old = now && representationOf(before);
  const time = ctx.now();
  const write =
    now && old && isChange(old, now)
      ? changes.append({ time, url: after.meta.url ?? found.target?.href ?? '', old, new: now, size: after.body.length, client: found.client }, found.urlKey)
      : changes.checkedUnchanged(found.urlKey, time);
  // Counted in this process at once (coalesced-checks.ts): no background job to track.
  if (!write) return;
  const job = write.then(
    () => undefined,
    (error: unknown) => ctx.logger.debug('change not recorded', { reason: (error as Error).message }),
  );
  ctx.background.add(job);
  void job.finally(() => ctx.background.delete(job));
}

/** Called from finish: did this request revalidate a stored response, and what did it find? */
export function recordChange(tx: Tx): void {
  const before = tx.entry;
  if (!before || !tx.urlKey) return;
  const stored = tx.storedEntry;
  // Our own conditional answered 304: the refreshed entry is the same representation.
  const notModified = !stored && tx.sentValidators && tx.originRes?.statusCode === 304;
  if (!notModified && (!stored || stored === before)) return;
  recordRevalidation(tx.ctx, { urlKey: tx.urlKey, before, after: stored ?? null, ...(tx.target && { target: tx.target }), client: tx.client?.id ?? null });
}

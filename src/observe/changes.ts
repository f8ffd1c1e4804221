// Change detection for pollers: when a request replaced a stored response with a 200 whose
// ETag, Last-Modified or body digest differs (RFC 9530 Repr-Digest when the origin sends one),
// append an event to the backend's ChangeLog. Fed from finish, off the response's path (the
// append is not awaited by the client); an unchanged 304 is counted by the metrics, not here.
import { createHash } from 'node:crypto';
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

/** Called from finish: did this request store a new representation over an old one? */
export function recordChange(tx: Tx): void {
  const { ctx } = tx;
  const changes = ctx.backend.changes;
  const before = tx.entry;
  const after = tx.storedEntry;
  if (!changes || !before || !after || after === before || after.meta.status !== 200 || !tx.urlKey) return;
  const old = representationOf(before);
  const now = representationOf(after);
  if (!isChange(old, now)) return;
  const event = {
    time: ctx.now(),
    url: after.meta.url ?? tx.target?.href ?? '',
    old,
    new: now,
    size: after.body.length,
    client: tx.client?.id ?? null,
  };
  const job = changes.append(event, tx.urlKey).then(
    () => undefined,
    (error: unknown) => ctx.logger.debug('change not recorded', { reason: (error as Error).message }),
  );
  ctx.background.add(job);
  void job.finally(() => ctx.background.delete(job));
}

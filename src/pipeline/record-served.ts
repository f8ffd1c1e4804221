// The isolate policy's memory: after a client is handed a response, the ledger records which
// validators it now holds for the URL, so only those are honoured on its later requests.
// Used by store (a fresh response) and deliver (a hit); the ledger itself lives in the store.
import { ledgerClient } from '../policy/identity.js';
import { recentlyRecordedFor, recordId, refreshIntervalMs } from '../policy/ledger.js';
import { lastModifiedToken } from '../policy/validators.js';
import type { Tx } from './transaction.js';

/** isolate: remember which validators this client now holds for this URL (written on change only). */
export async function recordServedTo(tx: Tx, meta: { etag?: string; lastModified?: string }): Promise<void> {
  const { ctx } = tx;
  const ttl = ctx.config.keepValidatorsMs;
  const client = ledgerClient(tx.client!);
  const key = tx.urlKey!;
  const now = ctx.now();
  const refreshMs = refreshIntervalMs(ttl);
  const recent = recentlyRecordedFor(ctx.backend.ledger);
  const validators = [meta.etag, meta.lastModified !== undefined ? lastModifiedToken(meta.lastModified) : undefined];
  const writes: Array<Promise<void>> = [];
  for (const validator of validators) {
    if (validator === undefined) continue;
    const id = recordId(client, key, validator);
    if (recent.isRecent(id, now, refreshMs)) continue;
    // Remembered only once written: a failed write is retried on the next response.
    writes.push(ctx.backend.ledger.recordServed(client, key, validator, ttl).then(() => recent.remember(id, now)));
  }
  await Promise.all(writes).catch(() => {});
}

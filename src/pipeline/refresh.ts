// The origin answered our conditional with 304: fold its fields into the entry (metadata only)
// and answer the client from the refreshed entry — a full 200 unless its own validators match.
import { unstoredLines } from '../cache/entry.js';
import { refreshEntry, type Refreshed } from './entry-writes.js';
import { semanticsRequest } from './request-facts.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

// Synchronous with the memory store: the refreshed entry is delivered without waiting for a promise.
export function refresh(tx: Tx): Step | Promise<Step> {
  const { ctx } = tx;
  tx.originRes!.resume(); // a 304 has no body; free the socket for reuse
  const selecting = { headers: tx.clientReq.headers, clientId: tx.client?.id ?? '' };
  const refreshing = refreshEntry(ctx, tx.address!, tx.entry!, semanticsRequest(tx), tx.originRes!, selecting, tx.rule?.settings, tx.fill?.lock);
  return refreshing instanceof Promise ? refreshing.then((refreshed) => refreshedEntry(tx, refreshed)) : refreshedEntry(tx, refreshing);
}

function refreshedEntry(tx: Tx, refreshed: Refreshed): Step {
  // RFC 9111 §3.1 lets a cache leave Set-Cookie out of what it stores; the client whose request
  // the 304 answered still gets it (invariant 2: no other client does).
  const own = unstoredLines(tx.originRes!.headers);
  if (own) tx.ownLines = own;
  tx.entry = refreshed.entry;
  tx.entryPolicy = refreshed.policy;
  const fill = tx.fill;
  if (fill) {
    // The entry is refreshed: its followers may read it. Not waited for (finish never rejects;
    // with the memory store it is done at once), and dropped from the transaction, so deliver
    // and finish have no fill to settle.
    tx.fill = undefined;
    void fill.finish('stored');
  }
  return 'deliver';
}

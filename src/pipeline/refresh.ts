// The origin answered our conditional with 304: fold its fields into the entry (metadata only)
// and answer the client from the refreshed entry — a full 200 unless its own validators match.
import { unstoredLines } from '../cache/entry.js';
import { refreshEntry } from './entry-writes.js';
import { semanticsRequest } from './request-facts.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

export async function refresh(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  tx.originRes!.resume(); // a 304 has no body; free the socket for reuse
  const selecting = { headers: tx.clientReq.headers, clientId: tx.client?.id ?? '' };
  const refreshed = await refreshEntry(ctx, tx.address!, tx.entry!, semanticsRequest(tx), tx.originRes!, selecting, tx.rule?.settings, tx.fill?.lock);
  // RFC 9111 §3.1 lets a cache leave Set-Cookie out of what it stores; the client whose request
  // the 304 answered still gets it (invariant 2: no other client does).
  const own = unstoredLines(tx.originRes!.headers);
  if (own) tx.ownLines = own;
  tx.entry = refreshed.entry;
  tx.entryPolicy = refreshed.policy;
  if (tx.fill) await tx.fill.finish('stored');
  return 'deliver';
}

// A storable response: stream it to the client and keep a copy; commit the entry at the end
// of the body (never partially), unless it outgrew --max-object-size on the way.
import { DETAIL } from '../cache/cache-status.js';
import { relayHeaders } from '../http/forward-headers.js';
import { teeBody } from './body.js';
import { keepUntilSent } from './entry-hold.js';
import { addressFor, commitEntry } from './entry-writes.js';
import { keyAfterResponse } from './cache-key.js';
import { recordServedTo } from './record-served.js';
import { maxObjectSize } from './storage-decision.js';
import type { Step } from './step.js';
import { settleFill, type Tx } from './transaction.js';

export async function store(tx: Tx): Promise<Step> {
  const { ctx, clientRes } = tx;
  const originRes = tx.originRes!;
  // `stored` is announced only when the length is known to fit (decideStorage sent larger ones to
  // relay); a chunked body may outgrow the cap.
  if (originRes.headers['content-length'] !== undefined) tx.status.stored();
  tx.status.ttl(ctx.semantics.ttlSeconds(tx.entryPolicy!));
  clientRes.writeHead(originRes.statusCode ?? 200, relayHeaders(originRes, tx.status.toString()));
  // The client's response is ended only after the commit, so once a client has the whole body
  // every worker sharing the store can serve it (read-your-writes across the fleet).
  const entries = ctx.backend.entries;
  const { body, endClient, release } = await teeBody(originRes, clientRes, maxObjectSize(ctx, tx.rule, originRes.headers), tx.target!.host, entries.reserveBody && ((length) => entries.reserveBody!(length)));
  // The body may sit in the store's room: held (as a looked-up one) until the request is over.
  keepUntilSent(tx, release);
  if (!body) {
    endClient();
    await settleFill(tx, 'not-stored');
    tx.status.detail(DETAIL.tooLarge);
    tx.log.detail = DETAIL.tooLarge;
    return 'done';
  }
  tx.urlKey = keyAfterResponse(tx, originRes.headers['no-vary-search']);
  const address = addressFor(tx.urlKey, originRes.headers, tx.clientReq.headers, tx.perClient ? tx.client?.verified ?? '' : undefined, tx.rule?.settings.varyIgnore);
  const entry = await commitEntry(ctx, address, originRes, tx.entryPolicy!, body, {
    clientCookie: tx.clientReq.headers['cookie'],
    perClient: tx.perClient,
    keepAtLeastMs: tx.record ? ctx.config.keepValidatorsMs : 0,
    target: tx.target!,
    ruleOverride: tx.entryRuleOverride === true,
  });
  // A background transaction served nobody: the client it refreshes for was given the old entry.
  if (entry && tx.policy?.validators === 'isolate' && !tx.background) await recordServedTo(tx, entry.meta);
  endClient();
  tx.log.stored = !!entry;
  if (entry) tx.storedEntry = entry;
  const settling = settleFill(tx, entry ? 'stored' : 'not-stored');
  if (settling) await settling;
  return 'done';
}

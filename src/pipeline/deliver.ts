// Answer from a stored entry: the client's own validators (as the policy planned them) are
// evaluated against it → 304, else the full stored response. Age, Via and Cache-Status are
// set here; HEAD gets the head only.
import { responseHead, single } from '../cache/entry.js';
import { notModified } from '../http/conditionals.js';
import { ifRangeMatches, planRange } from '../http/range.js';
import { appendVia } from '../http/via.js';
import { sendBody } from './body.js';
import { recordServedTo } from './record-served.js';
import { hitHead, PER_HIT } from './stored-head.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

// RFC 9110 §15.4.5: the fields a 304 carries (those a 200 would have sent that matter to caches).
const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
  'last-modified',
]);

// Synchronous on a plain hit: only a collapsed fill to release or an isolate ledger write waits.
// A background transaction has no client to answer: releasing its fill is all there is to do.
export function deliver(tx: Tx): Step | Promise<Step> {
  const released = tx.fill?.finish('stored');
  if (released) return released.then(() => (tx.background ? 'done' : respond(tx)));
  return tx.background ? 'done' : respond(tx);
}

function respond(tx: Tx): Step | Promise<Step> {
  const { ctx, clientRes } = tx;
  const { meta } = tx.entry!;
  const policy = tx.entryPolicy!;
  tx.status.ttl(ctx.semantics.ttlSeconds(policy));
  const age = String(ctx.semantics.ageSeconds(policy));

  const validators = tx.conditionals?.evaluateAtDeliver;
  if (validators && meta.status === 200) {
    const stored = { ...(meta.etag && { etag: meta.etag }), ...(meta.lastModified && { lastModified: meta.lastModified }), date: single(meta.headers['date']) };
    if (notModified(validators, stored, ctx.now())) {
      tx.log.delivered = 304;
      const extra = { age, via: appendVia(meta.headers['via'], '1.1'), 'cache-status': tx.status.toString() };
      const head = responseHead(meta.headers, extra, NOT_MODIFIED_FIELDS);
      if (tx.ownLines) head.push(...tx.ownLines);
      clientRes.writeHead(304, head);
      clientRes.end();
      return 'done';
    }
  }
  const range = tx.conditionals?.range;
  if (range && meta.status === 200 && ifRangeMatches(range.ifRange, meta)) {
    const answer = planRange(range.range, meta.bodyLength);
    if (answer.kind !== 'full') return sendRange(tx, age, answer);
  }
  if (tx.policy?.validators === 'isolate') return recordServedTo(tx, meta).then(() => sendEntry(tx, age));
  return sendEntry(tx, age);
}

/** RFC 9110 §15.3.7 / §15.5.17: a 206 with one part of the stored body, or 416. */
function sendRange(tx: Tx, age: string, answer: { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' }): Step | Promise<Step> {
  const { meta, body } = tx.entry!;
  tx.log.delivered = answer.kind === 'partial' ? 206 : 416;
  const head = responseHead(meta.headers, {}, undefined, PER_HIT);
  head.push('via', appendVia(meta.headers['via'], '1.1'), 'age', age, 'cache-status', tx.status.toString());
  if (tx.ownLines) head.push(...tx.ownLines);
  if (answer.kind === 'unsatisfiable') {
    head.push('content-range', `bytes */${meta.bodyLength}`, 'content-length', '0');
    tx.clientRes.writeHead(416, head);
    tx.clientRes.end();
    return 'done';
  }
  const part = body.subarray(answer.start, answer.end + 1);
  head.push('content-range', `bytes ${answer.start}-${answer.end}/${meta.bodyLength}`, 'content-length', String(part.length));
  tx.clientRes.writeHead(206, head);
  return sent(sendBody(tx.clientRes, tx.method === 'HEAD' ? undefined : part));
}

function sendEntry(tx: Tx, age: string): Step | Promise<Step> {
  const { meta, body } = tx.entry!;
  // The stored fields, Via and Content-Length are built once per entry (stored-head.ts); node's
  // writeHead validates and joins them on each hit (public API: no write to its private head).
  const head = hitHead(meta, age, tx.status.toString());
  tx.clientRes.writeHead(meta.status, tx.ownLines ? [...head, ...tx.ownLines] : head);
  return sent(sendBody(tx.clientRes, tx.method === 'HEAD' ? undefined : body));
}

/** Done once the body is handed over: at once for all but large bodies (sendBody). */
function sent(sending: void | Promise<void>): Step | Promise<Step> {
  return sending ? sending.then(() => 'done') : 'done';
}

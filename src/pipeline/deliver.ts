// Answer from a stored entry: the client's own validators (as the policy planned them) are
// evaluated against it → 304, else the full stored response. Age, Via and Cache-Status are
// set here; HEAD gets the head only.
import { responseHead, single } from '../cache/entry.js';
import { notModified } from '../http/conditionals.js';
import { appendVia } from '../http/via.js';
import { recordServedTo } from './store.js';
import type { EntryMeta } from '../store/types.js';
import type { Step } from './steps.js';
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

// The part of a 200's head that is the same on every hit, built once per metadata object.
const storedHeads = new WeakMap<EntryMeta, string[]>();
const PER_HIT = new Set(['age', 'cache-status', 'via', 'content-length']);

function storedHead(meta: EntryMeta): string[] {
  let head = storedHeads.get(meta);
  if (!head) {
    head = responseHead(meta.headers, {}, undefined, PER_HIT);
    head.push('via', appendVia(meta.headers['via'], '1.1'));
    // The whole body is at hand: its length replaces the origin's chunked framing (also on HEAD).
    if (meta.status !== 204 && meta.status !== 304) head.push('content-length', String(meta.bodyLength));
    storedHeads.set(meta, head);
  }
  return head.slice();
}

export async function deliver(tx: Tx): Promise<Step> {
  const { ctx, clientRes } = tx;
  const entry = tx.entry!;
  const { meta } = entry;
  const policy = tx.entryPolicy!;
  tx.status.ttl(ctx.semantics.ttlSeconds(policy));
  const age = String(ctx.semantics.ageSeconds(policy));
  if (tx.fill) await tx.fill.finish('stored');

  const validators = tx.conditionals?.evaluateAtDeliver;
  const stored = { ...(meta.etag && { etag: meta.etag }), ...(meta.lastModified && { lastModified: meta.lastModified }), date: single(meta.headers['date']) };
  if (validators && meta.status === 200 && notModified(validators, stored)) {
    tx.log.delivered = 304;
    const extra = { age, via: appendVia(meta.headers['via'], '1.1'), 'cache-status': tx.status.toString() };
    clientRes.writeHead(304, responseHead(meta.headers, extra, NOT_MODIFIED_FIELDS));
    clientRes.end();
    return 'done';
  }
  if (tx.policy?.validators === 'isolate') await recordServedTo(tx, meta);
  const head = storedHead(meta);
  head.push('age', age, 'cache-status', tx.status.toString());
  clientRes.writeHead(meta.status, head);
  clientRes.end(tx.method === 'HEAD' ? undefined : entry.body);
  return 'done';
}

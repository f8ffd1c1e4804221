// Answer from a stored entry: the client's own validators (as the policy planned them) are
// evaluated against it → 304, else the full stored response. Age, Via and Cache-Status are
// set here; HEAD gets the head only.
import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import { responseHead, single } from '../cache/entry.js';
import { notModified } from '../http/conditionals.js';
import { ifRangeMatches, planRange } from '../http/range.js';
import { appendVia } from '../http/via.js';
import { sendBody } from './body.js';
import { recordServedTo } from './record-served.js';
import { sameFieldsOutside } from '../cache/same-fields.js';
import type { EntryMeta } from '../store/types.js';
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

// What a hit's head is built from, kept on the metadata object (under symbols: never stored or
// sent to another process). Properties rather than WeakMaps: every revalidation makes a new meta,
// and WeakMap entries are ephemerons the young-generation GC must trace one by one.
const STORED_HEAD = Symbol('storedHead');
const PREBUILT_HEAD = Symbol('prebuiltHead');
type WithHeads = EntryMeta & { [STORED_HEAD]?: string[]; [PREBUILT_HEAD]?: PrebuiltHead | null };

// The part of a 200's head that is the same on every hit, built once per metadata object.
const PER_HIT = new Set(['age', 'cache-status', 'via', 'content-length']);

function storedHead(meta: EntryMeta): string[] {
  const withHeads = meta as WithHeads;
  let head = withHeads[STORED_HEAD];
  if (!head) {
    head = responseHead(meta.headers, {}, undefined, PER_HIT);
    head.push('via', appendVia(meta.headers['via'], '1.1'));
    // The whole body is at hand: its length replaces the origin's chunked framing (also on HEAD).
    if (meta.status !== 204 && meta.status !== 304) head.push('content-length', String(meta.bodyLength));
    withHeads[STORED_HEAD] = head;
  }
  return head.slice();
}

// Synchronous on a plain hit: only a collapsed fill to release or an isolate ledger write waits.
export function deliver(tx: Tx): Step | Promise<Step> {
  if (tx.fill) return tx.fill.finish('stored').then(() => respond(tx));
  return respond(tx);
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
  const clientRes = tx.clientRes as ServerResponse & { _header?: string | null };
  const prebuilt = prebuiltHead(meta);
  // node keeps the head it will send in `_header` (null until writeHead). Where that holds, the
  // stored fields go in as lines built and validated once per entry; otherwise writeHead has them.
  if (prebuilt && clientRes._header === null && !tx.ownLines) {
    clientRes.writeHead(meta.status, prebuilt.framing);
    const head = clientRes._header as string | null;
    if (typeof head === 'string') {
      const afterStatusLine = head.indexOf('\r\n') + 2;
      clientRes._header = `${head.slice(0, afterStatusLine)}${prebuilt.lines}age: ${age}\r\ncache-status: ${tx.status.toString()}\r\n${head.slice(afterStatusLine)}`;
      return sent(sendBody(clientRes, tx.method === 'HEAD' ? undefined : body));
    }
  }
  const head = storedHead(meta);
  head.push('age', age, 'cache-status', tx.status.toString());
  if (tx.ownLines) head.push(...tx.ownLines);
  tx.clientRes.writeHead(meta.status, head);
  return sent(sendBody(tx.clientRes, tx.method === 'HEAD' ? undefined : body));
}

/** Done once the body is handed over: at once for all but large bodies (sendBody). */
function sent(sending: void | Promise<void>): Step | Promise<Step> {
  return sending ? sending.then(() => 'done') : 'done';
}

// The fields node's writeHead reads for its framing and keep-alive decisions (or rewrites, as
// Content-Disposition): they always go through writeHead, so node decides as it does for any
// response. Every other stored field is prebuilt.
const READ_BY_NODE: ReadonlySet<string> = new Set(['connection', 'content-disposition', 'content-length', 'date', 'expect', 'keep-alive', 'trailer', 'transfer-encoding']);

interface PrebuiltHead {
  /** For writeHead: the stored fields node reads, and the entry's Content-Length. */
  framing: string[];
  /** The other stored fields and Via as `name: value\r\n` lines, each validated as writeHead would. */
  lines: string;
}

// A hit's head without per-hit work: node's writeHead validates and joins every field on each
// response (the largest share of a 1 KB hit's own CPU after the write itself).
function prebuiltHead(meta: EntryMeta): PrebuiltHead | null {
  const withHeads = meta as WithHeads;
  let prebuilt = withHeads[PREBUILT_HEAD];
  if (prebuilt === undefined) withHeads[PREBUILT_HEAD] = prebuilt = buildHead(meta);
  return prebuilt;
}

// Fields a 304 refresh usually changes that the prebuilt lines do not hold (Date goes through
// writeHead, Age is per hit).
const OUTSIDE_LINES: ReadonlySet<string> = new Set(['date', 'age']);

/**
 * After a 304 refresh: when the merged fields differ from the old ones in Date or Age alone (the
 * usual 304), the new metadata keeps the old prebuilt lines and only its framing is rebuilt.
 * `onlyDateChanged`: the caller has already compared the fields outside Date (refreshEntry).
 */
export function carryPrebuiltHead(before: EntryMeta, after: EntryMeta, onlyDateChanged = false): void {
  const prebuilt = (before as WithHeads)[PREBUILT_HEAD];
  if (!prebuilt || before.status !== after.status || before.bodyLength !== after.bodyLength) return;
  if ('date' in before.headers !== 'date' in after.headers) return;
  if (!onlyDateChanged && !sameFieldsOutside(before.headers, after.headers, OUTSIDE_LINES)) return;
  const framing: string[] = [];
  for (let i = 0; i < prebuilt.framing.length; i += 2) {
    const name = prebuilt.framing[i]!;
    framing.push(name, name === 'date' ? String(after.headers['date']) : prebuilt.framing[i + 1]!);
  }
  (after as WithHeads)[PREBUILT_HEAD] = { framing, lines: prebuilt.lines };
}

/** null when the entry's head must go through writeHead whole (no body length, or a field node would refuse). */
function buildHead(meta: EntryMeta): PrebuiltHead | null {
  // RFC 9110 §8.6: no Content-Length on 204 / 304; those take the ordinary path.
  if (meta.status === 204 || meta.status === 304) return null;
  const fields = storedHead(meta);
  const framing: string[] = [];
  let lines = '';
  try {
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (READ_BY_NODE.has(name)) {
        framing.push(name, value);
        continue;
      }
      validateHeaderName(name);
      validateHeaderValue(name, value);
      lines += `${name}: ${value}\r\n`;
    }
  } catch {
    return null; // writeHead will refuse it the same way, as it did before the head was prebuilt
  }
  return { framing, lines };
}

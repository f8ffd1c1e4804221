// A hit's head, built once per stored metadata object: the stored fields with Via and the
// body's length (storedHead), and the same as validated `name: value` lines for the fast path
// (prebuiltHead), carried over a 304 refresh when only Date changed (carryPrebuiltHead).
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { responseHead } from '../cache/entry.js';
import { sameFieldsOutside } from '../cache/same-fields.js';
import { appendVia } from '../http/via.js';
import type { EntryMeta } from '../store/types.js';

// What a hit's head is built from, kept on the metadata object (under symbols: never stored or
// sent to another process). Properties rather than WeakMaps: every revalidation makes a new meta,
// and WeakMap entries are ephemerons the young-generation GC must trace one by one.
const STORED_HEAD = Symbol('storedHead');
const PREBUILT_HEAD = Symbol('prebuiltHead');
type WithHeads = EntryMeta & { [STORED_HEAD]?: string[]; [PREBUILT_HEAD]?: PrebuiltHead | null };

// The part of a 200's head that is the same on every hit, built once per metadata object.
export const PER_HIT: ReadonlySet<string> = new Set(['age', 'cache-status', 'via', 'content-length']);

export function storedHead(meta: EntryMeta): string[] {
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

// The fields node's writeHead reads for its framing and keep-alive decisions (or rewrites, as
// Content-Disposition): they always go through writeHead, so node decides as it does for any
// response. Every other stored field is prebuilt.
const READ_BY_NODE: ReadonlySet<string> = new Set(['connection', 'content-disposition', 'content-length', 'date', 'expect', 'keep-alive', 'trailer', 'transfer-encoding']);

export interface PrebuiltHead {
  /** For writeHead: the stored fields node reads, and the entry's Content-Length. */
  framing: string[];
  /** The other stored fields and Via as `name: value\r\n` lines, each validated as writeHead would. */
  lines: string;
}

// A hit's head without per-hit work: node's writeHead validates and joins every field on each
// response (the largest share of a 1 KB hit's own CPU after the write itself).
export function prebuiltHead(meta: EntryMeta): PrebuiltHead | null {
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

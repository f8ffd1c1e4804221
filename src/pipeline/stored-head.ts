// A hit's head, built once per stored metadata object: the stored fields with Via and the
// body's length (storedHead).
import { responseHead } from '../cache/entry.js';
import { appendVia } from '../http/via.js';
import type { EntryMeta } from '../store/types.js';

// What a hit's head is built from, kept on the metadata object (under symbols: never stored or
// sent to another process). Properties rather than WeakMaps: every revalidation makes a new meta,
// and WeakMap entries are ephemerons the young-generation GC must trace one by one.
const STORED_HEAD = Symbol('storedHead');
type WithHeads = EntryMeta & { [STORED_HEAD]?: string[] };

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

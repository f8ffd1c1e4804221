// A hit's head, built once per stored metadata object: the stored fields with Via and the
// body's length, then Age and Cache-Status, the two fields written anew on each hit (hitHead).
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

/**
 * The [name, value, …] head of a hit on `meta`, for writeHead. One array per metadata object,
 * whose last two values (Age, Cache-Status) are overwritten on each call: writeHead reads it
 * before it returns and keeps no reference to it, so the caller must hand it to writeHead at
 * once (and copy it to add anything).
 */
export function hitHead(meta: EntryMeta, age: string, cacheStatus: string): string[] {
  const withHeads = meta as WithHeads;
  let head = withHeads[STORED_HEAD];
  if (!head) {
    head = responseHead(meta.headers, {}, undefined, PER_HIT);
    head.push('via', appendVia(meta.headers['via'], '1.1'));
    // The whole body is at hand: its length replaces the origin's chunked framing (also on HEAD).
    if (meta.status !== 204 && meta.status !== 304) head.push('content-length', String(meta.bodyLength));
    head.push('age', '', 'cache-status', '');
    withHeads[STORED_HEAD] = head;
  }
  const end = head.length;
  head[end - 3] = age;
  head[end - 1] = cacheStatus;
  return head;
}

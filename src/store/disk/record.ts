// What the disk store keeps per key, and the keys. A URL key holds either its entry (a response
// stored without Vary) or its Vary record (the header names and the variants stored under them);
// a variant's entry lives at [url, variant]. A body is immutable under its id: a new body gets a
// new id, so an id names one sequence of bytes for as long as it exists.
import { createHash } from 'node:crypto';
import type { EntryAddress, EntryMeta } from '../types.js';

export type RecordKey = string | [string, string];
export type OrderKey = [number, string] | [number, string, string];

interface Counted {
  /** Absolute expiry on the store's clock (ms). */
  exp: number;
  /** LRU generation of its last use (eviction.ts). */
  gen: number;
  /** Bytes counted against --cache-size for this record (with its body). */
  size: number;
}

export interface EntryRecord extends Counted {
  k: 'e';
  address: EntryAddress;
  meta: EntryMeta;
  /** Body id: its chunks are [body, 0 … chunks - 1] in the bodies database. */
  body: string;
  chunks: number;
  /** Body length and CRC-32 (zlib.crc32), checked when a body is read: whole, or absent. */
  len: number;
  crc: number;
}

export interface VaryRecord extends Counted {
  k: 'v';
  /** The URL key (the database key is its digest when it is long: keyPart). */
  url: string;
  vary: string[];
  variants: string[];
}

export type StoreRecord = EntryRecord | VaryRecord;

/**
 * LMDB keys end at 1,978 bytes and URL keys and variant ids come from clients (an 8 KB URL), so a
 * long part is keyed by its SHA-256 instead; the record itself keeps the whole URL key.
 */
const MAX_KEY_PART_BYTES = 480;

export function keyPart(text: string): string {
  if (text.length <= MAX_KEY_PART_BYTES / 3 || Buffer.byteLength(text) <= MAX_KEY_PART_BYTES) return text;
  return `#${createHash('sha256').update(text).digest('base64url')}`;
}

export const urlRecordKey = (url: string): string => keyPart(url);

export const keyOf = (address: Pick<EntryAddress, 'url' | 'variant'>): RecordKey =>
  address.variant === null ? keyPart(address.url) : [keyPart(address.url), keyPart(address.variant)];

/** The LRU order key: generation first, so the oldest generation comes first in a range read. */
export function orderKey(gen: number, key: RecordKey): OrderKey {
  return typeof key === 'string' ? [gen, key] : [gen, key[0], key[1]];
}

export function keyFromOrder(order: readonly unknown[]): RecordKey {
  return order.length === 2 ? (order[1] as string) : [order[1] as string, order[2] as string];
}

/** Largest chunk of a body in one database value: big values want contiguous free pages. */
export const CHUNK_BYTES = 256 * 1024;

/** Bookkeeping per record beyond its body and header fields: keys, order entry, B-tree slack. */
export const RECORD_OVERHEAD = 512;

// LMDB's page size here, and the largest value it keeps inside a leaf page (about half a page);
// a larger value takes whole overflow pages of its own, plus a 16-byte page header.
const PAGE_BYTES = 4096;
const INLINE_MAX = 2000;

/**
 * What a body costs on disk, counted against --cache-size: each chunk rounded up to whole pages.
 * Counting only the body's length let data.mdb grow to about 1.18× the cap under a crawl of
 * 4–64 KB bodies (half a page lost per body on average).
 */
export function bodyBytesOnDisk(length: number): number {
  if (length <= INLINE_MAX) return length;
  const whole = Math.floor(length / CHUNK_BYTES);
  const rest = length - whole * CHUNK_BYTES;
  const pages = (bytes: number): number => Math.ceil((bytes + 16) / PAGE_BYTES) * PAGE_BYTES;
  return whole * pages(CHUNK_BYTES) + (rest > 0 ? (rest <= INLINE_MAX ? rest : pages(rest)) : 0);
}

export function isRecord(value: unknown): value is StoreRecord {
  const kind = (value as StoreRecord | undefined)?.k;
  return kind === 'e' || kind === 'v';
}

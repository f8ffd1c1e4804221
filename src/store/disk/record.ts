// What the disk store keeps per key, and the keys. A URL key holds either its entry (a response
// stored without Vary) or its Vary record (the header names and the variants stored under them);
// a variant's entry lives at [url, variant]. A body lives in the body ring (body-ring.ts) at the
// record's position, which only ever names that one sequence of bytes.
import { createHash } from 'node:crypto';
import type { EntryAddress, EntryMeta } from '../types.js';

export type RecordKey = string | [string, string];
export type OrderKey = [number, string] | [number, string, string];

interface Counted {
  /** Absolute expiry on the store's clock (ms). */
  exp: number;
  /** Its reservation in the body ring (eviction.ts): where its body starts, and its place in the eviction order. */
  pos: number;
  /** Bytes counted against --cache-size for this record (with its body). */
  size: number;
}

export interface EntryRecord extends Counted {
  k: 'e';
  address: EntryAddress;
  meta: EntryMeta;
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

/** The eviction order key: the reservation's position first, so the oldest comes first in a range read. */
export function orderKey(pos: number, key: RecordKey): OrderKey {
  return typeof key === 'string' ? [pos, key] : [pos, key[0], key[1]];
}

export function keyFromOrder(order: readonly unknown[]): RecordKey {
  return order.length === 2 ? (order[1] as string) : [order[1] as string, order[2] as string];
}

/** Bookkeeping per record beyond its body and header fields: keys, order entry, B-tree slack. */
export const RECORD_OVERHEAD = 512;

export function isRecord(value: unknown): value is StoreRecord {
  const record = value as StoreRecord | undefined;
  return (record?.k === 'e' || record?.k === 'v') && typeof record.pos === 'number';
}

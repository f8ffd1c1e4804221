// The bytes of the Redis entry layout: one string per stored response (version tokens, metadata
// JSON and the raw body, so a hit is one GET and a version check one GETRANGE of the header), and
// one small string per varying URL (its Vary names and variant ids). Pure encode/decode only:
// which commands read and write these records is entry-store.ts's job, and its Lua scripts
// read the same offsets (keep the two in step).
import { isCurrentMeta, type EntryMeta } from '../types.js';

/**
 * Entry record: `E` | version (8) | body version (8) | meta length (u32 BE) | meta JSON | body.
 * `version` changes on every write (put, refresh), `body version` only when the body does (put),
 * so a reader holding an older copy can tell "new metadata, same body" from "new body".
 */
export const ENTRY_KIND = 0x45; // 'E'
/** Vary record: `V` | names length (u32 BE) | names JSON | one variant id + "\n" per variant. */
export const VARY_KIND = 0x56; // 'V'
export const VERSION_BYTES = 8;
const VERSION_AT = 1;
const BODY_VERSION_AT = VERSION_AT + VERSION_BYTES;
const META_LENGTH_AT = BODY_VERSION_AT + VERSION_BYTES;
/** Bytes before the meta JSON; a GETRANGE of `0 … ENTRY_HEADER_BYTES - 1` is a version check. */
export const ENTRY_HEADER_BYTES = META_LENGTH_AT + 4;
const VARY_HEADER_BYTES = 5;

export interface EntryRecord {
  version: Buffer;
  bodyVersion: Buffer;
  meta: EntryMeta;
  /** Length of the meta JSON: the near cache's size estimate and the meta-only re-read use it. */
  metaBytes: number;
  /** A view into the reply: copy it before keeping it for long (see near-cache.ts). */
  body: Buffer;
}

export interface VaryRecord {
  names: string[];
  /** The record's bytes up to the ids (a view): equal prefixes mean equal Vary names. */
  prefix: Buffer;
  variants: string[];
}

export function encodeEntry(version: Buffer, bodyVersion: Buffer, metaJson: Buffer, body: Buffer): Buffer {
  const record = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + metaJson.length + body.length);
  record[0] = ENTRY_KIND;
  version.copy(record, VERSION_AT);
  bodyVersion.copy(record, BODY_VERSION_AT);
  record.writeUInt32BE(metaJson.length, META_LENGTH_AT);
  metaJson.copy(record, ENTRY_HEADER_BYTES);
  body.copy(record, ENTRY_HEADER_BYTES + metaJson.length);
  return record;
}

/** The fixed part of a Vary record, from which the Lua side appends variant ids. */
export function encodeVaryPrefix(names: string[]): Buffer {
  const json = Buffer.from(JSON.stringify(names));
  const prefix = Buffer.allocUnsafe(VARY_HEADER_BYTES + json.length);
  prefix[0] = VARY_KIND;
  prefix.writeUInt32BE(json.length, 1);
  json.copy(prefix, VARY_HEADER_BYTES);
  return prefix;
}

/** Whether `header` (a GETRANGE of the record's start) is an entry record's header. */
export function isEntryHeader(header: Buffer): boolean {
  return header.length >= ENTRY_HEADER_BYTES && header[0] === ENTRY_KIND;
}

export function hasVersion(header: Buffer, version: Buffer): boolean {
  return isEntryHeader(header) && header.compare(version, 0, VERSION_BYTES, VERSION_AT, BODY_VERSION_AT) === 0;
}

export function hasBodyVersion(header: Buffer, bodyVersion: Buffer): boolean {
  return isEntryHeader(header) && header.compare(bodyVersion, 0, VERSION_BYTES, BODY_VERSION_AT, META_LENGTH_AT) === 0;
}

export function metaLength(header: Buffer): number {
  return header.readUInt32BE(META_LENGTH_AT);
}

/** Body bytes of an entry record of `totalBytes` whose header is `header` (for the benchmark). */
export function entryBodyLength(header: Buffer, totalBytes: number): number | undefined {
  return isEntryHeader(header) ? totalBytes - ENTRY_HEADER_BYTES - metaLength(header) : undefined;
}

// Anything unreadable (another layout, a truncated value) decodes as nothing: a miss, not an
// error, so the store stays up and the next put overwrites it.

/**
 * An entry record, or its header and meta only (`withBody` false: a re-read after a refresh
 * elsewhere, the body is the one already held). Versions and body are views into `record`.
 */
export function decodeEntry(record: Buffer, withBody = true): EntryRecord | undefined {
  if (!isEntryHeader(record)) return undefined;
  const metaBytes = metaLength(record);
  const bodyAt = ENTRY_HEADER_BYTES + metaBytes;
  if (record.length < bodyAt) return undefined;
  let meta: EntryMeta;
  try {
    meta = JSON.parse(record.toString('utf8', ENTRY_HEADER_BYTES, bodyAt)) as EntryMeta;
  } catch {
    return undefined;
  }
  // An older proxy's metadata (another policy form) is never read: a miss, not a wrong answer.
  if (!isCurrentMeta(meta)) return undefined;
  return {
    version: record.subarray(VERSION_AT, BODY_VERSION_AT),
    bodyVersion: record.subarray(BODY_VERSION_AT, META_LENGTH_AT),
    meta,
    metaBytes,
    body: withBody ? record.subarray(bodyAt) : Buffer.alloc(0),
  };
}

export function decodeVary(record: Buffer): VaryRecord | undefined {
  if (record.length < VARY_HEADER_BYTES || record[0] !== VARY_KIND) return undefined;
  const idsAt = VARY_HEADER_BYTES + record.readUInt32BE(1);
  if (record.length < idsAt) return undefined;
  let names: unknown;
  try {
    names = JSON.parse(record.toString('utf8', VARY_HEADER_BYTES, idsAt));
  } catch {
    return undefined;
  }
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) return undefined;
  const variants = record.toString('utf8', idsAt).split('\n');
  variants.pop(); // every id ends with "\n"
  return { names, prefix: record.subarray(0, idsAt), variants };
}

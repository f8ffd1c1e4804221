// EntryStore on Redis: one string per stored response (record.ts: version tokens, meta JSON, raw
// body; never JSON or base64, trap 2) behind a per-process near cache (near-cache.ts) that turns a
// repeated hit into a version check of a few bytes. Key layout, hash tags and TTLs are described
// at entryKey(). Deadlines and error mapping are guarded.ts's job; what is stored (and for how
// long) is decided by the pipeline, not here.
import { randomBytes } from 'node:crypto';
import type { Entry, EntryAddress, EntryMeta, EntryStore, FillLock, ScannedEntry, StoredVariant, StoreUsage } from '../types.js';
import type { RedisConnection } from './connect.js';
import { bodyVersionOf, NearCache, withBodyVersion, type NearEntry, type NearVary } from './near-cache.js';
import { evalInTransaction, luaScript, runScript } from './scripts.js';
import { RedisFillLock, releaseLua } from './fill-lock.js';
import {
  decodeEntry,
  decodeVary,
  encodeEntry,
  encodeVaryPrefix,
  ENTRY_HEADER_BYTES,
  hasBodyVersion,
  isEntryHeader,
  hasVersion,
  metaLength,
  VERSION_BYTES,
  type EntryRecord,
} from './record.js';

/**
 * `<ns>:e2:{<url>}` is a string: an entry record for a URL without Vary, or a Vary record (the
 * header names and every stored variant id) when it varies. `<ns>:e2:{<url>}:<variant>` is the
 * entry record of one variant. The `{<url>}` hash tag keeps a URL's keys in one Cluster slot, so
 * MULTI and the scripts below may touch them together. Every key has the TTL it was written with;
 * a Vary record's TTL is only ever extended, so it outlives every variant it lists.
 * `e2` is the layout's version: hashes an older proxy wrote under `<ns>:e:` are never read (no
 * WRONGTYPE while old and new workers share a Redis) and expire on their own TTL.
 * Exported so tools (the benchmark's MEMORY USAGE) can find an entry.
 */
export function entryKey(namespace: string, url: string, variant: string | null = null): string {
  return variant === null ? `${namespace}:e2:{${url}}` : `${namespace}:e2:{${url}}:${variant}`;
}

export interface RedisEntryStoreOptions {
  /** Bound of the near cache in bytes; 0 disables it. */
  nearCacheBytes?: number;
}

export const DEFAULT_NEAR_CACHE_BYTES = 64 * 1024 * 1024;

// The scripts keep one invariant the lookups rely on: a variant key exists only while its URL's
// Vary record lists it. Whatever replaces a Vary record (a plain entry, other Vary names, an
// invalidation) drops the variants it listed in the same atomic step. So a variant still
// carrying the body version a reader holds was never dropped, and its URL still varies on the
// names the reader holds. Variant keys are derived from KEYS[1] (same hash tag, same slot).
const DROP_LISTED = `
local function dropListed(urlKey)
  if redis.call('TYPE', urlKey).ok ~= 'string' or redis.call('GETRANGE', urlKey, 0, 0) ~= 'V' then return {} end
  local record = redis.call('GET', urlKey)
  local ids = {}
  if #record < 5 then return ids end
  for id in string.gmatch(string.sub(record, 6 + struct.unpack('>I4', record, 2)), '([^\\n]+)\\n') do
    ids[#ids + 1] = id
    redis.call('UNLINK', urlKey .. ':' .. id)
  end
  return ids
end
`;

/** Before a plain entry replaces whatever the URL held. */
const DROP_VARIANTS_SCRIPT = luaScript(`${DROP_LISTED}
dropListed(KEYS[1])
return 1`);

/** Invalidation: the URL's key and every variant it lists, atomically; returns the ids. */
const INVALIDATE_SCRIPT = luaScript(`${DROP_LISTED}
local ids = dropListed(KEYS[1])
redis.call('UNLINK', KEYS[1])
return ids`);

/**
 * Before a variant is written: list it in the URL's Vary record (ARGV[1] = record prefix for
 * the names, ARGV[2] = id, ARGV[3] = TTL ms). A record with other names, or a plain entry, is
 * replaced (dropping the variants it listed); the same record only ever gets a longer TTL.
 */
const LIST_VARIANT_SCRIPT = luaScript(`${DROP_LISTED}
local prefix, id, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = ''
if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GETRANGE', KEYS[1], 0, #prefix - 1) == prefix then
  ids = string.sub(redis.call('GET', KEYS[1]), #prefix + 1)
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
else
  dropListed(KEYS[1])
end
if not string.find('\\n' .. ids, '\\n' .. id .. '\\n', 1, true) then ids = ids .. id .. '\\n' end
redis.call('SET', KEYS[1], prefix .. ids, 'PX', ttl)
return 1`);

/**
 * A 304: rewrite version and meta around the stored body, server-side, so the body does not
 * cross the network again (ARGV[1] = new version, ARGV[2] = meta JSON, ARGV[3] = TTL ms).
 * Nothing happens if the entry is gone: a refresh racing an invalidation must not bring it back.
 * Nor if ARGV[4] (when not empty) names another body version: the 304 was about a body another
 * worker has since replaced, and its fields (Content-Length, ETag) must not go with the new one.
 * `varyKey` (the Vary record of a variant) is kept alive at least as long as the variant.
 * Returns the body version kept, so the caller knows whether its near-cached body is that one.
 */
const REFRESH_LUA = `
local function refresh(entryKey, varyKey)
  if redis.call('TYPE', entryKey).ok ~= 'string' then return false end
  local head = redis.call('GETRANGE', entryKey, 0, ${ENTRY_HEADER_BYTES - 1})
  if #head < ${ENTRY_HEADER_BYTES} or string.sub(head, 1, 1) ~= 'E' then return false end
  local metaLength = struct.unpack('>I4', head, ${ENTRY_HEADER_BYTES - 3})
  local bodyVersion = string.sub(head, ${VERSION_BYTES + 2}, ${2 * VERSION_BYTES + 1})
  if ARGV[4] ~= '' and ARGV[4] ~= bodyVersion then return false end
  local upToBody = 'E' .. ARGV[1] .. bodyVersion .. struct.pack('>I4', #ARGV[2]) .. ARGV[2]
  if metaLength == #ARGV[2] then
    -- The usual 304 (Date changed) leaves the meta JSON as long as it was: overwrite it in
    -- place and leave the body where it is, instead of copying it through Lua and back.
    redis.call('SETRANGE', entryKey, 0, upToBody)
    redis.call('PEXPIRE', entryKey, ARGV[3])
  else
    local body = redis.call('GETRANGE', entryKey, ${ENTRY_HEADER_BYTES} + metaLength, -1)
    redis.call('SET', entryKey, upToBody .. body, 'PX', ARGV[3])
  end
  if varyKey then
    local left = redis.call('PTTL', varyKey)
    if left >= 0 and left < tonumber(ARGV[3]) then redis.call('PEXPIRE', varyKey, ARGV[3]) end
  end
  return bodyVersion
end
`;

/** KEYS: the entry, and the URL's Vary record for a variant. */
const REFRESH_SCRIPT = luaScript(`${REFRESH_LUA}
return refresh(KEYS[1], KEYS[2])`);

/**
 * The same, and then the fill lock the revalidation held is released (KEYS[2], token ARGV[5]),
 * whether or not the entry was still there: what the pipeline would do in the next round trip.
 * KEYS: the entry, the lock, and the URL's Vary record for a variant.
 */
const REFRESH_AND_RELEASE_SCRIPT = luaScript(`${REFRESH_LUA}
local kept = refresh(KEYS[1], KEYS[3])
${releaseLua(2, 5)}
return kept`);

const CHECK_RANGE = ['0', String(ENTRY_HEADER_BYTES - 1)] as const;

type Found = { entry: Entry; address: EntryAddress } | undefined;
/** What a key held: an entry, a Vary record, or nothing (gone, or unreadable). */
type Stored = { kind: 'entry'; near: NearEntry } | { kind: 'vary'; names: string[] } | undefined;
/**
 * Redis refuses a value over proto-max-bulk-len (512 MB by default); an entry is one value of
 * its body and metadata, and the metadata is at most a few times node's 16 KiB header limit.
 */
const LARGEST_BODY = 511 * 1024 * 1024;

/** The near-cached copy could not be confirmed: read the URL from the start. */
const UNCONFIRMED = Symbol('unconfirmed');

export class RedisEntryStore implements EntryStore {
  private readonly near: NearCache;

  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
    options: RedisEntryStoreOptions = {},
  ) {
    this.near = new NearCache(options.nearCacheBytes ?? DEFAULT_NEAR_CACHE_BYTES);
  }

  /** Bytes the near cache counts as held (for tests and diagnostics). */
  get nearCacheBytes(): number {
    return this.near.bytes;
  }

  maxBodyBytes(): number {
    return LARGEST_BODY;
  }

  usage(): StoreUsage {
    return { store: 'near-cache', entries: this.near.entries, bytes: this.near.bytes };
  }

  /**
   * Round trips: a URL without Vary is one (GET; or, near-cached, a GETRANGE of the header, plus
   * one more when another worker rewrote it). A varying URL is two, or one when this process
   * already knows its Vary names (the names are checked in the same round trip as the variant).
   * So `variantOf` may be called with the names this process last saw for the URL before Redis
   * says they changed (or that the URL no longer varies): it must be a pure function.
   */
  async lookup(url: string, variantOf: (vary: string[]) => string): Promise<Found> {
    const key = entryKey(this.namespace, url);
    const pick = lastVariantOf(variantOf);
    const near = this.near.get(key);
    if (near?.kind === 'entry') {
      const confirmed = await this.confirm(key, near);
      if (confirmed !== UNCONFIRMED) return confirmed && { entry: confirmed.entry, address: { url, vary: null, variant: null } };
    } else if (near?.kind === 'vary') {
      const found = await this.lookupKnownVary(url, key, near, pick);
      if (found !== UNCONFIRMED) return found;
    }
    const stored = await this.read(key);
    if (stored?.kind === 'entry') return { entry: stored.near.entry, address: { url, vary: null, variant: null } };
    if (!stored) return undefined;
    // With Vary and nothing known yet, a second round trip: the variant id needs the stored names.
    const variant = pick(stored.names);
    const variantEntry = await this.readEntry(entryKey(this.namespace, url, variant));
    return variantEntry && { entry: variantEntry.entry, address: { url, vary: stored.names, variant } };
  }

  /** An entry key's entry: confirmed from the near cache (no body transfer) or read whole. */
  private async readEntry(key: string): Promise<NearEntry | undefined> {
    const near = this.near.entry(key);
    const confirmed = near ? await this.confirm(key, near) : UNCONFIRMED;
    if (confirmed !== UNCONFIRMED) return confirmed;
    const stored = await this.read(key);
    return stored?.kind === 'entry' ? stored.near : undefined;
  }

  /** A varying URL whose names this process holds: the variant (and the names) in one round trip. */
  private async lookupKnownVary(url: string, key: string, near: NearVary, pick: (vary: string[]) => string): Promise<Found | typeof UNCONFIRMED> {
    const variant = pick(near.names);
    const variantKey = entryKey(this.namespace, url, variant);
    const address = { url, vary: near.names, variant };
    const nearVariant = this.near.entry(variantKey);
    if (nearVariant) {
      // Same body version means the variant was never dropped, so the names still hold (see the
      // invariant above the scripts). Anything else may mean the URL changed: start over.
      const confirmed = await this.confirm(variantKey, nearVariant);
      return confirmed && confirmed !== UNCONFIRMED ? { entry: confirmed.entry, address } : UNCONFIRMED;
    }
    const [prefix, record] = await this.redis.pipeline(key, [
      ['GETRANGE', key, '0', String(near.prefix.length - 1)],
      ['GET', variantKey],
    ]);
    if (!Buffer.isBuffer(prefix) || !prefix.equals(near.prefix)) {
      this.near.forget(key);
      return UNCONFIRMED;
    }
    const stored = this.remember(variantKey, record);
    return stored?.kind === 'entry' ? { entry: stored.near.entry, address } : undefined;
  }

  /**
   * Is the near-cached copy still what Redis holds? One GETRANGE of the header; when only the
   * metadata changed (a refresh elsewhere), one more for header + meta, never the body. A key
   * another instance has been refreshing (a URL the fleet revalidates in turn) is read with its
   * meta in the first GETRANGE, so its next refresh elsewhere costs no second round trip.
   * Resolves to the entry to serve, undefined when the key is gone, or UNCONFIRMED.
   */
  private async confirm(key: string, near: NearEntry): Promise<NearEntry | undefined | typeof UNCONFIRMED> {
    const range = near.refreshedElsewhere ? ['0', String(ENTRY_HEADER_BYTES + near.metaBytes - 1)] : CHECK_RANGE;
    const header = await this.redis.command(key, ['GETRANGE', key, ...range]);
    if (!Buffer.isBuffer(header) || header.length === 0) {
      this.near.forget(key);
      return undefined;
    }
    if (hasVersion(header, near.version)) {
      near.refreshedElsewhere = false;
      return near;
    }
    this.near.forget(key);
    if (!hasBodyVersion(header, near.bodyVersion)) return UNCONFIRMED;
    // Header and meta come in one reply, so they belong together. A write in between shows as
    // another body version, or (a longer meta) as a meta cut short, which does not decode.
    let record = near.refreshedElsewhere ? decodeEntry(header, false) : undefined;
    if (!record) {
      const end = String(ENTRY_HEADER_BYTES + metaLength(header) - 1);
      const upToBody = await this.redis.command(key, ['GETRANGE', key, '0', end]);
      record = Buffer.isBuffer(upToBody) && hasBodyVersion(upToBody, near.bodyVersion) ? decodeEntry(upToBody, false) : undefined;
    }
    if (!record) return UNCONFIRMED;
    return this.near.remember(key, { ...toNear(record), entry: { meta: record.meta, body: near.entry.body }, refreshedElsewhere: true });
  }

  /** One GET of a key, decoded and kept in the near cache. */
  private async read(key: string): Promise<Stored> {
    return this.remember(key, await this.redis.command(key, ['GET', key]));
  }

  private remember(key: string, reply: unknown): Stored {
    if (!Buffer.isBuffer(reply)) {
      this.near.forget(key);
      return undefined;
    }
    const entry = decodeEntry(reply);
    if (entry) return { kind: 'entry', near: this.near.remember(key, toNear(entry)) };
    const vary = decodeVary(reply);
    if (!vary) {
      this.near.forget(key);
      return undefined;
    }
    this.near.remember(key, { kind: 'vary', names: vary.names, prefix: vary.prefix });
    return { kind: 'vary', names: vary.names };
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    const key = entryKey(this.namespace, address.url);
    const ttl = ttlArg(ttlMs);
    const version = randomBytes(VERSION_BYTES);
    const metaJson = Buffer.from(JSON.stringify(entry.meta));
    // A new body gets a new body version: readers holding the old body must fetch this one.
    const record = encodeEntry(version, version, metaJson, entry.body);
    const near: NearEntry = { kind: 'entry', version, bodyVersion: version, metaBytes: metaJson.length, entry: withBodyVersion(entry, version) };
    if (!address.vary || address.variant === null) {
      await this.redis.transaction(key, [
        evalInTransaction(DROP_VARIANTS_SCRIPT, [key]),
        ['SET', key, record, 'PX', ttl],
      ]);
      this.near.remember(key, near);
      return;
    }
    // The ids are stored newline-terminated; cache/keys.ts makes them base64url.
    if (!address.variant || address.variant.includes('\n')) throw new Error(`redis entry store: unusable variant id ${JSON.stringify(address.variant)}`);
    const variantKey = entryKey(this.namespace, address.url, address.variant);
    const prefix = encodeVaryPrefix(address.vary);
    await this.redis.transaction(key, [
      evalInTransaction(LIST_VARIANT_SCRIPT, [key], [prefix, address.variant, ttl]),
      ['SET', variantKey, record, 'PX', ttl],
    ]);
    this.near.remember(key, { kind: 'vary', names: address.vary, prefix });
    this.near.remember(variantKey, near);
  }

  /**
   * One round trip. With `fill` (a lock of this backend for the same URL) the lock is released
   * in the same script, after the write; otherwise the caller releases it.
   */
  async refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number, fill?: FillLock, revalidated?: Entry): Promise<void> {
    const urlKey = entryKey(this.namespace, address.url);
    const key = address.variant === null ? urlKey : entryKey(this.namespace, address.url, address.variant);
    const version = randomBytes(VERSION_BYTES);
    const metaJson = Buffer.from(JSON.stringify(meta));
    const varyKeys = key === urlKey ? [] : [urlKey];
    // The body the 304 was about: the one the revalidated entry was read with. Failing that, the
    // one this process last read or wrote; with neither, whatever body is stored.
    const expectedBody = (revalidated && bodyVersionOf(revalidated)) ?? this.near.entry(key)?.bodyVersion ?? '';
    const args = [version, metaJson, ttlArg(ttlMs), expectedBody];
    const lock = fill instanceof RedisFillLock && fill.sharesSlotWith(address.url) ? fill : undefined;
    const bodyVersion = lock
      ? await runScript(this.redis, REFRESH_AND_RELEASE_SCRIPT, [key, lock.key, ...varyKeys], [...args, lock.token])
      : await runScript(this.redis, REFRESH_SCRIPT, [key, ...varyKeys], args);
    lock?.releasedWithWrite();
    const near = this.near.entry(key);
    if (near && Buffer.isBuffer(bodyVersion) && bodyVersion.equals(near.bodyVersion)) {
      this.near.remember(key, { ...near, version, metaBytes: metaJson.length, entry: { meta, body: near.entry.body } });
    } else {
      this.near.forget(key);
    }
  }

  async invalidate(url: string): Promise<void> {
    const key = entryKey(this.namespace, url);
    const dropped = await runScript(this.redis, INVALIDATE_SCRIPT, [key]);
    this.near.forget(key);
    for (const id of Array.isArray(dropped) ? dropped : []) this.near.forget(entryKey(this.namespace, url, String(id)));
  }

  // Inspection and purge: never on the request path, never a body transfer (the header and meta
  // are read with GETRANGE), and never the near cache (it reports what Redis holds).
  async variants(url: string): Promise<StoredVariant[]> {
    const key = entryKey(this.namespace, url);
    const head = await this.readHead(key);
    if (!head) return [];
    if (head.kind === 'entry') return [{ address: { url, vary: null, variant: null }, ...head.variant }];
    const found: StoredVariant[] = [];
    for (const variant of head.variants) {
      const stored = await this.readHead(entryKey(this.namespace, url, variant));
      if (stored?.kind === 'entry') found.push({ address: { url, vary: head.names, variant }, ...stored.variant });
    }
    return found;
  }

  async scanPage(cursor: string, count: number): Promise<{ cursor: string; entries: ScannedEntry[] }> {
    const prefix = `${this.namespace}:e2:{`;
    // Only this namespace's keys: the namespace is matched literally, whatever glob characters it has.
    const page = await this.redis.scan(cursor, `${escapeGlob(prefix)}*`, count);
    const byUrl = new Map<string, ScannedEntry>();
    const heads = await Promise.all(page.keys.map(async (key) => ({ key, head: await this.readHead(key) })));
    for (const { key, head } of heads) {
      const close = key.indexOf('}', prefix.length);
      if (!key.startsWith(prefix) || close < 0 || !head) continue;
      const url = key.slice(prefix.length, close);
      const href = head.kind === 'entry' ? head.variant.meta.url : undefined;
      if (href !== undefined || !byUrl.has(url)) byUrl.set(url, { url, ...(href !== undefined && { href }) });
    }
    return { cursor: page.cursor, entries: [...byUrl.values()] };
  }

  /** The header and meta of an entry record (or a Vary record whole), its size and time left. */
  private async readHead(key: string): Promise<
    { kind: 'entry'; variant: Omit<StoredVariant, 'address'> } | { kind: 'vary'; names: string[]; variants: string[] } | undefined
  > {
    const [start, length, ttl] = (await this.redis.pipeline(key, [
      ['GETRANGE', key, '0', String(ENTRY_HEADER_BYTES + INSPECT_META_BYTES - 1)],
      ['STRLEN', key],
      ['PTTL', key],
    ])) as [unknown, unknown, unknown];
    if (!Buffer.isBuffer(start) || start.length === 0) return undefined;
    const bytes = Number(length);
    const expiresInMs = Number(ttl) >= 0 ? Number(ttl) : undefined;
    if (isEntryHeader(start)) {
      const end = ENTRY_HEADER_BYTES + metaLength(start);
      const head = end <= start.length ? start : await this.redis.command(key, ['GETRANGE', key, '0', String(end - 1)]);
      const record = Buffer.isBuffer(head) ? decodeEntry(head.subarray(0, end), false) : undefined;
      return record && { kind: 'entry', variant: { meta: record.meta, bytes, ...(expiresInMs !== undefined && { expiresInMs }) } };
    }
    const whole = start.length < bytes ? await this.redis.command(key, ['GET', key]) : start;
    const vary = Buffer.isBuffer(whole) ? decodeVary(whole) : undefined;
    return vary && { kind: 'vary', names: vary.names, variants: vary.variants };
  }

  async close(): Promise<void> {
    // The connection belongs to the backend (shared with coordination); it closes it.
    this.near.clear();
  }
}

/** Meta JSON read with the header in one GETRANGE; a longer one takes a second read. */
const INSPECT_META_BYTES = 4096;

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function ttlArg(ttlMs: number): string {
  return String(Math.max(1, Math.ceil(ttlMs)));
}

function toNear(record: EntryRecord): NearEntry {
  return {
    kind: 'entry',
    version: record.version,
    bodyVersion: record.bodyVersion,
    metaBytes: record.metaBytes,
    entry: withBodyVersion({ meta: record.meta, body: record.body }, record.bodyVersion),
  };
}

/** variantOf, asked again only when the names differ (a lookup may start over once). */
function lastVariantOf(variantOf: (vary: string[]) => string): (vary: string[]) => string {
  let names: string[] | undefined;
  let variant = '';
  return (vary) => {
    if (!names || names.length !== vary.length || names.some((name, i) => name !== vary[i])) {
      variant = variantOf(vary);
      names = vary;
    }
    return variant;
  };
}

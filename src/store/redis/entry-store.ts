// EntryStore on Redis: one hash per stored response {meta, body}, the body as raw bytes (never
// JSON or base64, trap 2), so a hit without Vary is one HMGET. Key layout, hash tags for Cluster
// and TTL handling are described at entryKey(). Deadlines and error mapping are guarded.ts's job;
// what is stored (and for how long) is decided by the pipeline, not here.
import type { Entry, EntryAddress, EntryMeta, EntryStore } from '../types.js';
import type { RedisConnection } from './connect.js';

/**
 * `<ns>:e:{<url>}` is a hash: `meta` (JSON EntryMeta) + `body` (raw bytes) for a URL without
 * Vary, or `vary` (JSON array of header names) + one field per stored variant id when it varies.
 * `<ns>:e:{<url>}:<variant>` is a hash {meta, body} per variant. The `{<url>}` hash tag keeps a
 * URL's keys in one Cluster slot, so MULTI and multi-key UNLINK stay legal there.
 * Exported so tools (the benchmark's MEMORY USAGE) can find an entry.
 */
export function entryKey(namespace: string, url: string, variant: string | null = null): string {
  return variant === null ? `${namespace}:e:{${url}}` : `${namespace}:e:{${url}}:${variant}`;
}

const FIELD_META = 'meta';
const FIELD_BODY = 'body';
const FIELD_VARY = 'vary';

// A 304 rewrites meta and TTL only if the entry still has its body: a refresh racing an
// invalidation must not bring back an entry that was deleted. KEYS[2] (the URL hash of a
// variant) is kept alive at least as long as the variant it lists.
const REFRESH_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], 'body') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if KEYS[2] then
  local left = redis.call('PTTL', KEYS[2])
  if left >= 0 and left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
return 1`;

// The URL hash of a varying URL lists every variant, so it must outlive the longest-lived one:
// extend its TTL, never shorten it (PEXPIRE GT would need Redis 7 and skips keys without a TTL).
const EXTEND_TTL_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left == -1 or left < tonumber(ARGV[1]) then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0`;

export class RedisEntryStore implements EntryStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
  ) {}

  async lookup(url: string, variantOf: (vary: string[]) => string): Promise<{ entry: Entry; address: EntryAddress } | undefined> {
    const key = entryKey(this.namespace, url);
    const [meta, body, vary] = replyArray(await this.redis.command(key, ['HMGET', key, FIELD_META, FIELD_BODY, FIELD_VARY]));
    const entry = decodeEntry(meta, body);
    if (entry) return { entry, address: { url, vary: null, variant: null } };
    const names = decodeVary(vary);
    if (!names) return undefined;
    // With Vary, the second round trip cannot be avoided: the variant id needs the stored names.
    const variant = variantOf(names);
    const variantKey = entryKey(this.namespace, url, variant);
    const [variantMeta, variantBody] = replyArray(await this.redis.command(variantKey, ['HMGET', variantKey, FIELD_META, FIELD_BODY]));
    const variantEntry = decodeEntry(variantMeta, variantBody);
    return variantEntry && { entry: variantEntry, address: { url, vary: names, variant } };
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    const key = entryKey(this.namespace, address.url);
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const meta = JSON.stringify(entry.meta);
    if (!address.vary || address.variant === null) {
      // UNLINK first: the URL may have varied before, and its `vary` field would linger. Variant
      // hashes it listed become unreachable and expire on their own TTL.
      await this.redis.transaction(key, [
        ['UNLINK', key],
        ['HSET', key, FIELD_META, meta, FIELD_BODY, entry.body],
        ['PEXPIRE', key, ttl],
      ]);
      return;
    }
    const variantKey = entryKey(this.namespace, address.url, address.variant);
    await this.redis.transaction(key, [
      // The URL may have been stored without Vary before; its meta/body would shadow the variants.
      ['HDEL', key, FIELD_META, FIELD_BODY],
      ['HSET', key, FIELD_VARY, JSON.stringify(address.vary), address.variant, '1'],
      ['EVAL', EXTEND_TTL_SCRIPT, '1', key, ttl],
      ['HSET', variantKey, FIELD_META, meta, FIELD_BODY, entry.body],
      ['PEXPIRE', variantKey, ttl],
    ]);
  }

  async refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number): Promise<void> {
    const urlKey = entryKey(this.namespace, address.url);
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const args =
      address.variant === null
        ? ['EVAL', REFRESH_SCRIPT, '1', urlKey, JSON.stringify(meta), ttl]
        : ['EVAL', REFRESH_SCRIPT, '2', entryKey(this.namespace, address.url, address.variant), urlKey, JSON.stringify(meta), ttl];
    await this.redis.command(urlKey, args);
  }

  async invalidate(url: string): Promise<void> {
    const key = entryKey(this.namespace, url);
    const fields = replyArray(await this.redis.command(key, ['HKEYS', key]));
    const variantKeys: string[] = [];
    for (const field of fields) {
      const name = Buffer.isBuffer(field) ? field.toString() : String(field);
      if (name !== FIELD_META && name !== FIELD_BODY && name !== FIELD_VARY) variantKeys.push(entryKey(this.namespace, url, name));
    }
    // UNLINK frees large bodies off Redis's main thread.
    await this.redis.command(key, ['UNLINK', key, ...variantKeys]);
  }

  async close(): Promise<void> {
    // The connection belongs to the backend (shared with coordination); it closes it.
  }
}

function replyArray(reply: unknown): unknown[] {
  return Array.isArray(reply) ? reply : [];
}

// Anything unreadable (another version's layout, a half-written key) is a miss, not an error:
// the store stays up and the next put overwrites it.
function decodeEntry(meta: unknown, body: unknown): Entry | undefined {
  if (!Buffer.isBuffer(meta) || !Buffer.isBuffer(body)) return undefined;
  try {
    const parsed = JSON.parse(meta.toString()) as EntryMeta;
    if (parsed?.v !== 1) return undefined;
    return { meta: parsed, body };
  } catch {
    return undefined;
  }
}

function decodeVary(vary: unknown): string[] | undefined {
  if (!Buffer.isBuffer(vary)) return undefined;
  try {
    const names: unknown = JSON.parse(vary.toString());
    return Array.isArray(names) && names.every((name) => typeof name === 'string') ? names : undefined;
  } catch {
    return undefined;
  }
}

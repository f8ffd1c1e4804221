// Fill locks on Redis: the key layout, the holder's random token, and the Lua that deletes a lock
// or extends its lease only while it is still its holder's. coordination.ts takes and releases them; entry-store.ts
// embeds the same release in its refresh script, so a revalidation's refresh and the release of
// its lock are one round trip (and followers in other processes, polling the lock, cannot see
// it gone before the refreshed entry is there).
import { randomBytes } from 'node:crypto';
import type { FillLock } from '../types.js';
import type { RedisConnection } from './connect.js';
import { luaScript, runScript } from './scripts.js';

/**
 * `<ns>:fill:{<url>}[:<variant>]` for the fill key `<url>[:<variant>]` (cache/keys.ts fillKey):
 * the URL's hash tag, the one its entry keys carry (entry-store.ts entryKey), so a refresh
 * script may release the lock in the same Cluster slot.
 */
export function fillLockKey(namespace: string, fillKey: string): { key: string; url: string } {
  const colon = fillKey.indexOf(':');
  const url = colon < 0 ? fillKey : fillKey.slice(0, colon);
  return { key: `${namespace}:fill:{${url}}${colon < 0 ? '' : fillKey.slice(colon)}`, url };
}

/** Lua: delete KEYS[`keyAt`] if it still holds ARGV[`tokenAt`]; after a TTL expiry another may hold it. */
export function releaseLua(keyAt: number, tokenAt: number): string {
  return `if redis.call('GET', KEYS[${keyAt}]) == ARGV[${tokenAt}] then redis.call('DEL', KEYS[${keyAt}]) end`;
}

const RELEASE_SCRIPT = luaScript(`${releaseLua(1, 1)}\nreturn 0`);
// PEXPIRE only while the key still holds our token: after an expiry another holder may have it.
// One key, so one Cluster slot.
const RENEW_SCRIPT = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\nreturn 0`);

export class RedisFillLock implements FillLock {
  readonly token = randomBytes(16).toString('base64url');
  private releasedAlready = false;

  constructor(
    private readonly redis: RedisConnection,
    /** The lock's Redis key. */
    readonly key: string,
    /** The URL key whose hash tag `key` carries. */
    readonly url: string,
  ) {}

  /** Whether a script touching `url`'s entry keys may release this lock too (same slot). */
  sharesSlotWith(url: string): boolean {
    return !this.releasedAlready && url === this.url;
  }

  /** A refresh script released it along with its write: release() has nothing left to do. */
  releasedWithWrite(): void {
    this.releasedAlready = true;
  }

  get released(): boolean {
    return this.releasedAlready;
  }

  async renew(ttlMs: number): Promise<boolean> {
    if (this.releasedAlready) return false;
    return (await runScript(this.redis, RENEW_SCRIPT, [this.key], [this.token, String(Math.max(1, Math.ceil(ttlMs)))])) === 1;
  }

  async release(): Promise<void> {
    if (this.releasedAlready) return;
    await runScript(this.redis, RELEASE_SCRIPT, [this.key], [this.token]);
    this.releasedAlready = true;
  }
}

// Fleet-wide coordination on Redis: fill locks (SET NX PX with a random token, fill-lock.ts), the isolate
// ledger (a set per client and key, with a TTL) and the shared policy rules (a JSON string plus a
// pub/sub channel announcing changes). Deadlines and error mapping are guarded.ts's job.
import { createHash } from 'node:crypto';
import type { Logger } from '../../observe/log.js';
import { MAX_VALIDATORS_PER_RECORD } from '../memory/coordination.js';
import type { Coordination, FillLock, RuleStore, ValidatorLedger } from '../types.js';
import type { RedisConnection } from './connect.js';
import { fillLockKey, RedisFillLock } from './fill-lock.js';

function ms(ttlMs: number): string {
  return String(Math.max(1, Math.ceil(ttlMs)));
}

export class RedisCoordination implements Coordination {
  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
  ) {}

  async acquireFill(key: string, ttlMs: number): Promise<FillLock | null> {
    const { key: lockKey, url } = fillLockKey(this.namespace, key);
    const lock = new RedisFillLock(this.redis, lockKey, url);
    const reply = await this.redis.command(lockKey, ['SET', lockKey, lock.token, 'NX', 'PX', ms(ttlMs)]);
    return reply === null ? null : lock;
  }

  async isFilling(key: string): Promise<boolean> {
    const { key: lockKey } = fillLockKey(this.namespace, key);
    return (await this.redis.command(lockKey, ['EXISTS', lockKey])) === 1;
  }
}

/** Longer client ids go into ledger keys as a digest. */
const MAX_CLIENT_IN_KEY = 128;

/**
 * A score that orders this process's records even within one millisecond: Redis breaks score
 * ties by member bytes, so with plain `Date.now()` a burst could trim `"v4"` and keep `"v10"`.
 * The fraction counts records in the same millisecond (a double near 2^41 still resolves 1/1024).
 */
let lastMs = 0;
let sameMs = 0;
function servedScore(): number {
  const now = Date.now();
  sameMs = now === lastMs ? Math.min(sameMs + 1, 1023) : 0;
  lastMs = now;
  return now + sameMs / 1024;
}

export class RedisLedger implements ValidatorLedger {
  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
  ) {}

  // One sorted set per client and key, scored by when each validator was served, cut to the
  // latest MAX_VALIDATORS_PER_RECORD as in the memory store. Client ids can hold ':' (IPv6
  // addresses, user names): encoding keeps `<client>:<key>` unambiguous; a long one (ids come
  // from clients) is kept as its digest. (`vl`: the ledger before these bounds was a set under `served`.)
  private key(client: string, key: string): string {
    const id = client.length > MAX_CLIENT_IN_KEY ? `#${createHash('sha256').update(client).digest('base64url')}` : encodeURIComponent(client);
    return `${this.namespace}:vl:${id}:${key}`;
  }

  async recordServed(client: string, key: string, validator: string, ttlMs: number): Promise<void> {
    const setKey = this.key(client, key);
    await this.redis.transaction(setKey, [
      ['ZADD', setKey, String(servedScore()), validator],
      ['ZREMRANGEBYRANK', setKey, '0', String(-MAX_VALIDATORS_PER_RECORD - 1)],
      ['PEXPIRE', setKey, ms(ttlMs)],
    ]);
  }

  async wasServed(client: string, key: string, validator: string): Promise<boolean> {
    const setKey = this.key(client, key);
    return (await this.redis.command(setKey, ['ZSCORE', setKey, validator])) !== null;
  }
}

export class RedisRuleStore<Rules> implements RuleStore<Rules> {
  private readonly rulesKey: string;
  private readonly channel: string;
  private readonly listeners = new Set<(rules: Rules) => void>();
  private subscribed = false;
  private closed = false;
  /** The rules JSON last read or announced, to tell a real change from a reconnect. */
  private lastSeen: string | undefined;

  constructor(
    private readonly redis: RedisConnection,
    namespace: string,
    private readonly logger: Logger,
  ) {
    this.rulesKey = `${namespace}:rules`;
    this.channel = `${namespace}:rules-changed`;
    // A change published while this worker was cut off from Redis was never delivered to it:
    // read the rules again whenever the connection comes back, and announce them if they differ.
    redis.onReady(() => void this.reloadAndNotify(true));
  }

  async load(): Promise<Rules | undefined> {
    const reply = await this.redis.command(this.rulesKey, ['GET', this.rulesKey]);
    if (!Buffer.isBuffer(reply)) return undefined;
    const text = reply.toString();
    const rules = JSON.parse(text) as Rules;
    this.lastSeen = text;
    return rules;
  }

  async save(rules: Rules): Promise<void> {
    // One round trip; the message is only a nudge, subscribers read the rules key themselves.
    await this.redis.transaction(this.rulesKey, [
      ['SET', this.rulesKey, JSON.stringify(rules)],
      ['PUBLISH', this.channel, String(Date.now())],
    ]);
  }

  onChange(listener: (rules: Rules) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscribed) {
      this.subscribed = true;
      // Subscribed once per store, whatever the number of listeners (trap 4). While Redis is down
      // the subscription waits for it; each time it is (re)made, the rules are read again: a save
      // between the caller's load() and the subscription, or during an outage, went unheard.
      this.redis.subscribe(
        this.channel,
        () => void this.reloadAndNotify(false),
        () => void this.reloadAndNotify(true),
      );
    }
    return () => this.listeners.delete(listener);
  }

  private async reloadAndNotify(onlyIfChanged: boolean): Promise<void> {
    if (this.closed || this.listeners.size === 0) return;
    const before = this.lastSeen;
    let rules: Rules | undefined;
    try {
      rules = await this.load();
    } catch (err) {
      // Not lost for good: read again at the next change, reconnect, or by load() on restart.
      this.logger.warn('rules reload failed', { error: describe(err) });
      return;
    }
    if (rules === undefined || this.closed || (onlyIfChanged && before === this.lastSeen)) return;
    for (const listener of this.listeners) {
      try {
        listener(rules);
      } catch (err) {
        this.logger.error('rules listener failed', { error: describe(err) });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

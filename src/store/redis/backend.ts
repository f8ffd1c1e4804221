// The shared Redis backend: one command connection and one subscriber connection (connect.ts)
// behind every store part, each part wrapped by guarded.ts (deadline, breaker, StoreUnavailable).
// Creating it never waits for Redis for long and never fails because Redis is down.
import { ErrorReply } from '@redis/client';
import type { Logger } from '../../observe/log.js';
import { guardBackend } from '../guarded.js';
import type { Backend } from '../types.js';
import { redactUrl } from '../../observe/redact.js';
import { connectRedis, type RedisConnection } from './connect.js';
import { RedisCoordination, RedisLedger, RedisRuleStore } from './coordination.js';
import { RedisChangeLog } from './change-log.js';
import { DEFAULT_NEAR_CACHE_BYTES, RedisEntryStore } from './entry-store.js';

export interface RedisBackendOptions {
  /** See connect.ts for the accepted forms (single node, TLS, Cluster seed list). */
  url: string;
  /** Prefix of every key and channel, so several proxies (or tests) can share one Redis. */
  namespace: string;
  storeTimeoutMs: number;
  logger: Logger;
  /**
   * Bytes of recently used entries each process keeps in front of Redis, so a repeated hit
   * transfers a version token instead of the body (see redis/near-cache.ts). Default 64 MiB;
   * 0 turns it off.
   */
  nearCacheBytes?: number;
  /** How often a proxy that has never reached Redis says so again (default UNREACHABLE_WARNING_MS). */
  unreachableWarningMs?: number;
}

// Error replies that mean "this server cannot serve right now" rather than "this command is wrong".
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS)\b/;

/**
 * Outages open the breaker; a server that answers an error (OOM on a write, WRONGTYPE) is up,
 * and so is one holding an unreadable rules document.
 */
export function isRedisOutage(err: unknown): boolean {
  if (err instanceof ErrorReply) return TRANSIENT_REPLY.test(err.message);
  return !(err instanceof SyntaxError);
}

/** How often a proxy that has never reached Redis says so again. */
export const UNREACHABLE_WARNING_MS = 30_000;

/**
 * Redis unreachable at start: a proxy that serves but never caches must say so, at start and
 * every UNREACHABLE_WARNING_MS until it connects (the breaker then logs "store up" once).
 */
function warnUntilConnected(redis: RedisConnection, options: RedisBackendOptions): () => void {
  const since = Date.now();
  const store = redactUrl(options.url);
  const warn = (msg: string) => options.logger.warn(msg, { store, reason: redis.lastError ?? 'no answer yet', ...(msg !== UNREACHABLE && { downForS: Math.round((Date.now() - since) / 1000) }) });
  warn(UNREACHABLE);
  const timer = setInterval(() => (redis.ready ? clearInterval(timer) : warn('store still unreachable: nothing is cached until it answers')), options.unreachableWarningMs ?? UNREACHABLE_WARNING_MS);
  timer.unref();
  redis.onReady(() => clearInterval(timer));
  return () => clearInterval(timer);
}

const UNREACHABLE = 'store unreachable at start: serving without a cache until it answers';

export async function createRedisBackend<Rules>(options: RedisBackendOptions): Promise<Backend<Rules>> {
  const { logger, namespace } = options;
  const redis = connectRedis({ url: options.url, logger });
  // Give the first connection a moment so the first requests after start do not count as an
  // outage; a refused connection settles this at once, a silent host after the store deadline.
  let waited: NodeJS.Timeout | undefined;
  await Promise.race([redis.firstAttempt, new Promise<void>((resolve) => (waited = setTimeout(resolve, Math.max(options.storeTimeoutMs, 250))))]);
  clearTimeout(waited);
  const stopWarning = redis.ready ? () => {} : warnUntilConnected(redis, options);

  const entries = new RedisEntryStore(redis, namespace, { nearCacheBytes: options.nearCacheBytes ?? DEFAULT_NEAR_CACHE_BYTES });
  const rules = new RedisRuleStore<Rules>(redis, namespace, logger);
  const backend: Backend<Rules> = {
    kind: 'redis',
    entries,
    coordination: new RedisCoordination(redis, namespace),
    ledger: new RedisLedger(redis, namespace),
    rules,
    changes: new RedisChangeLog(redis, namespace),
    close: async () => {
      stopWarning();
      await rules.close();
      await entries.close();
      await redis.close();
    },
  };
  return guardBackend(backend, {
    timeoutMs: options.storeTimeoutMs,
    logger,
    name: 'redis',
    watchReady: (listener) => redis.onReady(listener),
    isOutage: isRedisOutage,
  });
}

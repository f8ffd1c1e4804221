// The Redis backend against the store contracts, plus what only Redis can show: the key layout
// (raw body bytes, one hash tag per URL, a TTL on every key), round trips per hit, and a rule
// change travelling between two backends through pub/sub. Uses REDIS_URL or a private server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@keyv/redis';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import { connectRedis, parseClusterUrl, type RedisConnection } from '../../src/store/redis/connect.js';
import { entryKey, RedisEntryStore } from '../../src/store/redis/entry-store.js';
import type { Backend } from '../../src/store/types.js';
import { coordinationContract, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, entryStoreVaryTtlContract, freshUrl, sampleEntry } from '../contracts/entry-store.contract.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

const namespace = testNamespace('redis-store');
let redis: { url: string; stop(): Promise<void> };

beforeAll(async () => {
  redis = await redisForTests();
});
afterAll(async () => {
  if (!redis) return;
  await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

// Generous deadline: the contract writes a 10 MB body, which is not what --store-timeout is for.
const backend = <Rules>(ns = namespace): Promise<Backend<Rules>> =>
  createRedisBackend<Rules>({ url: redis.url, namespace: ns, storeTimeoutMs: 5000, logger: silentLogger });

entryStoreContract('redis', async () => {
  const made = await backend();
  return { store: made.entries, cleanup: () => made.close() };
});

entryStoreVaryTtlContract('redis', async () => {
  const made = await backend();
  return { store: made.entries, cleanup: () => made.close() };
});

coordinationContract('redis', async () => {
  const first = await backend<ContractRules>();
  const second = await backend<ContractRules>();
  const restarted: Backend<ContractRules>[] = [];
  return {
    ...first,
    peer: second.rules,
    restarted: async () => {
      const worker = await backend<ContractRules>();
      restarted.push(worker);
      return worker.rules;
    },
    cleanup: async () => {
      await Promise.all([first, second, ...restarted].map((made) => made.close()));
    },
  };
});

describe('Redis layout', () => {
  let raw: ReturnType<typeof createClient>;
  let made: Backend;

  beforeAll(async () => {
    raw = createClient({ url: redis.url });
    raw.on('error', () => {});
    await raw.connect();
    made = await backend();
  });
  afterAll(async () => {
    await made?.close();
    raw?.destroy();
  });

  it('stores the body as raw bytes in the hash, not as JSON or base64', async () => {
    const url = freshUrl();
    const body = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x22, 0x5c]);
    const entry = sampleEntry(body);
    await made.entries.put({ url, vary: null, variant: null }, entry, 60_000);
    const key = entryKey(namespace, url);
    const stored = await raw.withTypeMapping({ 36: Buffer }).hGet(key, 'body');
    expect(Buffer.isBuffer(stored) && stored.equals(body)).toBe(true);
    expect(await raw.hStrLen(key, 'body')).toBe(body.length);
    expect(JSON.parse((await raw.hGet(key, 'meta')) ?? 'null')).toEqual(entry.meta);
  });

  it('a 100 KB body costs about 100 KB of Redis memory (MEMORY USAGE)', async () => {
    const url = freshUrl();
    const body = Buffer.alloc(100 * 1024, 0xab);
    await made.entries.put({ url, vary: null, variant: null }, sampleEntry(body), 60_000);
    const usage = await raw.memoryUsage(entryKey(namespace, url));
    expect(usage).toBeGreaterThanOrEqual(body.length);
    // jemalloc rounds 100 KB up to its 112 KB size class; base64 alone would need 137 KB.
    expect(usage).toBeLessThan(body.length * 1.2);
  });

  it('keeps every key of one URL in one Cluster slot (a shared hash tag)', () => {
    expect(entryKey('ns', 'abc')).toBe('ns:e:{abc}');
    expect(entryKey('ns', 'abc', 'v1')).toBe('ns:e:{abc}:v1');
  });

  it('puts a TTL on every key it writes', async () => {
    const url = freshUrl();
    await made.entries.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('a')), 60_000);
    await made.coordination.acquireFill(`fill-${url}`, 60_000);
    await made.ledger.recordServed('alice', url, '"v1"', 60_000);
    const keys: string[] = [];
    for await (const page of raw.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) keys.push(...page);
    const ours = keys.filter((key) => key.includes(url));
    expect(ours).toHaveLength(4);
    for (const key of ours) {
      const ttl = await raw.pTTL(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }
  });

  it('invalidate deletes the URL hash and every variant hash it lists', async () => {
    const url = freshUrl();
    for (const variant of ['a', 'b', 'c']) {
      await made.entries.put({ url, vary: ['accept'], variant }, sampleEntry(Buffer.from(variant)), 60_000);
    }
    const keys = [entryKey(namespace, url), ...['a', 'b', 'c'].map((v) => entryKey(namespace, url, v))];
    expect(await raw.exists(keys)).toBe(4);
    await made.entries.invalidate(url);
    expect(await raw.exists(keys)).toBe(0);
  });

  it('keeps namespaces apart', async () => {
    const other = await backend(`${namespace}-other`);
    try {
      const url = freshUrl();
      await made.entries.put({ url, vary: null, variant: null }, sampleEntry(Buffer.from('x')), 60_000);
      expect(await other.entries.lookup(url, () => 'x')).toBeUndefined();
    } finally {
      await other.close();
      await cleanNamespace(redis.url, `${namespace}-other`);
    }
  });
});

describe('Redis round trips per lookup', () => {
  let connection: RedisConnection;
  let store: RedisEntryStore;
  let roundTrips = 0;

  beforeAll(async () => {
    connection = connectRedis({ url: redis.url, logger: silentLogger });
    await connection.firstAttempt;
    const counted: RedisConnection = {
      ...connection,
      command: (key, args) => (roundTrips++, connection.command(key, args)),
      transaction: (key, commands) => (roundTrips++, connection.transaction(key, commands)),
    };
    store = new RedisEntryStore(counted, namespace);
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('a hit without Vary is one round trip', async () => {
    const url = freshUrl();
    await store.put({ url, vary: null, variant: null }, sampleEntry(Buffer.from('one')), 60_000);
    roundTrips = 0;
    const found = await store.lookup(url, () => 'unused');
    expect(found?.entry.body.toString()).toBe('one');
    expect(roundTrips).toBe(1);
  });

  it('a miss is one round trip, a hit with Vary two', async () => {
    roundTrips = 0;
    expect(await store.lookup(freshUrl(), () => 'unused')).toBeUndefined();
    expect(roundTrips).toBe(1);
    const url = freshUrl();
    await store.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('two')), 60_000);
    roundTrips = 0;
    expect((await store.lookup(url, () => 'a'))?.entry.body.toString()).toBe('two');
    expect(roundTrips).toBe(2);
  });

  it('put and refresh are one round trip each', async () => {
    const url = freshUrl();
    roundTrips = 0;
    await store.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('w')), 60_000);
    expect(roundTrips).toBe(1);
    await store.refresh({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('w')).meta, 60_000);
    expect(roundTrips).toBe(2);
  });
});

describe('Redis URL forms', () => {
  it('reads a Cluster seed list from redis+cluster://', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      tls: false,
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
    expect(parseClusterUrl('rediss+cluster://user:p%40ss@a:7000/')).toEqual({
      tls: true,
      username: 'user',
      password: 'p@ss',
      nodes: [{ host: 'a', port: 7000 }],
    });
    expect(parseClusterUrl('redis://127.0.0.1:6379/2')).toBeUndefined();
    expect(() => parseClusterUrl('redis+cluster://a:notaport')).toThrow(/host:port/);
  });
});

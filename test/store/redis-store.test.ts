// The Redis backend against the store contracts (also with the near cache off, and written by one
// backend while another reads), plus what only Redis can show: the key layout (raw body bytes,
// one hash tag per URL, a TTL on every key, MEMORY USAGE), round trips and bytes per hit, the near
// cache across two workers, and a rule change travelling between two backends through pub/sub.
// Uses REDIS_URL or a private server.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient, RESP_TYPES } from '@redis/client';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import { connectRedis, parseClusterUrl, type RedisConnection } from '../../src/store/redis/connect.js';
import { entryKey, RedisEntryStore } from '../../src/store/redis/entry-store.js';
import { decodeEntry, ENTRY_HEADER_BYTES } from '../../src/store/redis/record.js';
import type { Backend, EntryStore } from '../../src/store/types.js';
import { coordinationContract, sharedStoreSubject, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, entryStoreVaryTtlContract, freshUrl, sampleEntry, sampleMeta } from '../contracts/entry-store.contract.js';
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
const backend = <Rules>(ns = namespace, nearCacheBytes?: number): Promise<Backend<Rules>> =>
  createRedisBackend<Rules>({ url: redis.url, namespace: ns, storeTimeoutMs: 5000, logger: silentLogger, ...(nearCacheBytes !== undefined && { nearCacheBytes }) });

entryStoreContract('redis', async () => {
  const made = await backend();
  return { store: made.entries, cleanup: () => made.close() };
});

entryStoreContract('redis, near cache off', async () => {
  const made = await backend(namespace, 0);
  return { store: made.entries, cleanup: () => made.close() };
});

// Two workers: every write goes through one and every read through the other, whose near cache
// must notice each change at its next lookup.
entryStoreContract('redis, written by one backend and read by another', async () => {
  const writer = await backend();
  const reader = await backend();
  const store: EntryStore = {
    lookup: (url, variantOf) => reader.entries.lookup(url, variantOf),
    put: (address, entry, ttlMs) => writer.entries.put(address, entry, ttlMs),
    refresh: (address, meta, ttlMs, fill, revalidated) => writer.entries.refresh(address, meta, ttlMs, fill, revalidated),
    invalidate: (url) => writer.entries.invalidate(url),
    close: async () => {},
  };
  return { store, cleanup: async () => void (await Promise.all([writer.close(), reader.close()])) };
});

entryStoreVaryTtlContract('redis', async () => {
  const made = await backend();
  return { store: made.entries, cleanup: () => made.close() };
});

coordinationContract('redis', sharedStoreSubject((store) => backend<ContractRules>(`${namespace}:${store}`)));

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

  it('stores one string per entry: version tokens, the meta JSON, then the body as raw bytes (not JSON or base64)', async () => {
    const url = freshUrl();
    const body = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x22, 0x5c]);
    const entry = sampleEntry(body);
    await made.entries.put({ url, vary: null, variant: null }, entry, 60_000);
    const stored = await raw.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(entryKey(namespace, url));
    expect(Buffer.isBuffer(stored)).toBe(true);
    const record = stored as Buffer;
    const metaBytes = Buffer.byteLength(JSON.stringify(entry.meta));
    expect(record.length).toBe(ENTRY_HEADER_BYTES + metaBytes + body.length);
    expect(record.subarray(record.length - body.length).equals(body)).toBe(true);
    expect(JSON.parse(record.toString('utf8', ENTRY_HEADER_BYTES, ENTRY_HEADER_BYTES + metaBytes))).toEqual(entry.meta);
    expect(decodeEntry(record)?.meta).toEqual(entry.meta);
  });

  it('a 1 KB entry costs less than twice its body (MEMORY USAGE)', async () => {
    const url = freshUrl();
    const body = Buffer.alloc(1024, 0x61);
    await made.entries.put({ url, vary: null, variant: null }, sampleEntry(body), 60_000);
    const usage = await raw.memoryUsage(entryKey(namespace, url), { SAMPLES: 0 });
    expect(usage).toBeLessThan(body.length * 2);
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

  it('a 304 refresh keeps the stored body and its size', async () => {
    const url = freshUrl();
    const body = randomBytes(4096);
    await made.entries.put({ url, vary: null, variant: null }, sampleEntry(body), 60_000);
    const refreshed = sampleMeta({ etag: '"v2"', bodyLength: body.length });
    await made.entries.refresh({ url, vary: null, variant: null }, refreshed, 60_000);
    const record = await raw.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(entryKey(namespace, url));
    const decoded = decodeEntry(record as Buffer);
    expect(decoded?.meta).toEqual(refreshed);
    expect(decoded?.body.equals(body)).toBe(true);
  });

  it('keeps every key of one URL in one Cluster slot (a shared hash tag)', () => {
    expect(entryKey('ns', 'abc')).toBe('ns:e2:{abc}');
    expect(entryKey('ns', 'abc', 'v1')).toBe('ns:e2:{abc}:v1');
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

  it('invalidate deletes the URL key and every variant key it lists', async () => {
    const url = freshUrl();
    for (const variant of ['a', 'b', 'c']) {
      await made.entries.put({ url, vary: ['accept'], variant }, sampleEntry(Buffer.from(variant)), 60_000);
    }
    const keys = [entryKey(namespace, url), ...['a', 'b', 'c'].map((v) => entryKey(namespace, url, v))];
    expect(await raw.exists(keys)).toBe(4);
    await made.entries.invalidate(url);
    expect(await raw.exists(keys)).toBe(0);
  });

  it('drops the variants a URL listed when the URL stops varying or varies on other names', async () => {
    const url = freshUrl();
    await made.entries.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('a')), 60_000);
    await made.entries.put({ url, vary: ['accept-language'], variant: 'b' }, sampleEntry(Buffer.from('b')), 60_000);
    expect(await raw.exists(entryKey(namespace, url, 'a'))).toBe(0);
    expect(await raw.exists(entryKey(namespace, url, 'b'))).toBe(1);
    await made.entries.put({ url, vary: null, variant: null }, sampleEntry(Buffer.from('plain')), 60_000);
    expect(await raw.exists(entryKey(namespace, url, 'b'))).toBe(0);
    // So a variant of the former names cannot come back when the URL varies on them again.
    await made.entries.put({ url, vary: ['accept'], variant: 'c' }, sampleEntry(Buffer.from('c')), 60_000);
    expect(await made.entries.lookup(url, () => 'a')).toBeUndefined();
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

describe('Redis validator ledger', () => {
  // Regression: scored by Date.now() alone, records made in one millisecond tied and Redis broke
  // the tie by member bytes, so trimming to 16 dropped "v10".."v12" and kept "v4" (CI, 2026-12-07).
  it('trims to the 16 latest even when all 20 are recorded in the same millisecond', async () => {
    const made = await backend();
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    try {
      const key = `ledger-${randomBytes(6).toString('hex')}`;
      for (let n = 1; n <= 20; n++) await made.ledger.recordServed('erin', key, `"v${n}"`, 60_000);
      for (let n = 1; n <= 4; n++) expect(await made.ledger.wasServed('erin', key, `"v${n}"`)).toBe(false);
      for (let n = 5; n <= 20; n++) expect(await made.ledger.wasServed('erin', key, `"v${n}"`)).toBe(true);
    } finally {
      now.mockRestore();
      await made.close();
    }
  });
});

/** A connection that counts round trips and the bytes of bulk replies (what crossed the network). */
interface CountedConnection {
  connection: RedisConnection;
  roundTrips: number;
  replyBytes: number;
  reset(): void;
  close(): Promise<void>;
}

async function countedConnection(): Promise<CountedConnection> {
  const inner = connectRedis({ url: redis.url, logger: silentLogger });
  await inner.firstAttempt;
  const counts = {
    roundTrips: 0,
    replyBytes: 0,
    reset() {
      counts.roundTrips = 0;
      counts.replyBytes = 0;
    },
  };
  const measure = (reply: unknown): void => {
    if (Buffer.isBuffer(reply)) counts.replyBytes += reply.length;
    else if (Array.isArray(reply)) reply.forEach(measure);
  };
  const counted = <T>(pending: Promise<T>): Promise<T> => {
    counts.roundTrips++;
    return pending.then((reply) => (measure(reply), reply));
  };
  const connection: RedisConnection = {
    ...inner,
    command: (key, args) => counted(inner.command(key, args)),
    transaction: (key, commands) => counted(inner.transaction(key, commands)),
    pipeline: (key, commands) => counted(inner.pipeline(key, commands)),
  };
  return Object.assign(counts, { connection, close: () => inner.close() });
}

describe('Redis round trips per lookup', () => {
  let counted: CountedConnection;
  let store: RedisEntryStore;
  /** Another process: its near cache has not seen what `store` wrote. */
  let cold: () => RedisEntryStore;

  beforeAll(async () => {
    counted = await countedConnection();
    store = new RedisEntryStore(counted.connection, namespace);
    cold = () => new RedisEntryStore(counted.connection, namespace);
  });
  afterAll(async () => {
    await counted?.close();
  });

  it('a hit without Vary is one round trip: the whole entry the first time, a version check after', async () => {
    const url = freshUrl();
    await store.put({ url, vary: null, variant: null }, sampleEntry(Buffer.from('one')), 60_000);
    const other = cold();
    counted.reset();
    expect((await other.lookup(url, () => 'unused'))?.entry.body.toString()).toBe('one');
    expect(counted.roundTrips).toBe(1);
    counted.reset();
    expect((await other.lookup(url, () => 'unused'))?.entry.body.toString()).toBe('one');
    expect(counted.roundTrips).toBe(1);
    expect(counted.replyBytes).toBe(ENTRY_HEADER_BYTES);
  });

  it('a miss is one round trip; a hit with Vary two, or one once the Vary names are known', async () => {
    counted.reset();
    expect(await store.lookup(freshUrl(), () => 'unused')).toBeUndefined();
    expect(counted.roundTrips).toBe(1);
    const url = freshUrl();
    await store.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('two')), 60_000);
    await store.put({ url, vary: ['accept'], variant: 'b' }, sampleEntry(Buffer.from('bee')), 60_000);
    const other = cold();
    counted.reset();
    expect((await other.lookup(url, () => 'a'))?.entry.body.toString()).toBe('two');
    expect(counted.roundTrips).toBe(2);
    // Names known, variant not: the names check and the variant travel together.
    counted.reset();
    expect((await other.lookup(url, () => 'b'))?.entry.body.toString()).toBe('bee');
    expect(counted.roundTrips).toBe(1);
    counted.reset();
    expect((await other.lookup(url, () => 'a'))?.entry.body.toString()).toBe('two');
    expect(counted.roundTrips).toBe(1);
    expect(counted.replyBytes).toBe(ENTRY_HEADER_BYTES);
  });

  it('put, refresh and invalidate are one round trip each', async () => {
    const address = (url: string) => ({ url, vary: ['accept'], variant: 'a' });
    // A server that has not run a script yet answers its first EVALSHA with NOSCRIPT and gets it
    // again as EVAL: one more round trip, once per server. Run each once first, so the count does
    // not depend on whether another test here ran the scripts before this one.
    const warmUp = freshUrl();
    await store.put(address(warmUp), sampleEntry(Buffer.from('w')), 60_000);
    await store.refresh(address(warmUp), sampleEntry(Buffer.from('w')).meta, 60_000);
    await store.invalidate(warmUp);

    const url = freshUrl();
    counted.reset();
    await store.put(address(url), sampleEntry(Buffer.from('w')), 60_000);
    expect(counted.roundTrips).toBe(1);
    await store.refresh(address(url), sampleEntry(Buffer.from('w')).meta, 60_000);
    expect(counted.roundTrips).toBe(2);
    await store.invalidate(url);
    expect(counted.roundTrips).toBe(3);
  });
});

describe('Redis near cache: what one worker writes, another sees at its next lookup', () => {
  const NEAR_BYTES = 1024 * 1024;
  let countedA: CountedConnection;
  let countedB: CountedConnection;
  let a: RedisEntryStore;
  let b: RedisEntryStore;

  beforeAll(async () => {
    countedA = await countedConnection();
    countedB = await countedConnection();
    a = new RedisEntryStore(countedA.connection, namespace, { nearCacheBytes: NEAR_BYTES });
    b = new RedisEntryStore(countedB.connection, namespace, { nearCacheBytes: NEAR_BYTES });
  });
  afterAll(async () => {
    await Promise.all([countedA?.close(), countedB?.close()]);
  });

  const plain = (url: string) => ({ url, vary: null, variant: null });
  const noVariant = (): string => {
    throw new Error('variantOf must not be called for a URL stored without Vary');
  };

  it('a repeated hit with a warm near cache transfers the version, not the body', async () => {
    const url = freshUrl();
    const body = randomBytes(100 * 1024);
    await a.put(plain(url), sampleEntry(body), 60_000);
    countedB.reset();
    expect((await b.lookup(url, noVariant))?.entry.body.equals(body)).toBe(true);
    expect(countedB.replyBytes).toBeGreaterThan(body.length);
    for (let i = 0; i < 3; i++) {
      countedB.reset();
      expect((await b.lookup(url, noVariant))?.entry.body.equals(body)).toBe(true);
      expect(countedB.roundTrips).toBe(1);
      expect(countedB.replyBytes).toBe(ENTRY_HEADER_BYTES);
    }
  });

  it('A refreshes (304): B sees the new metadata with the same body, and the body does not travel again', async () => {
    const url = freshUrl();
    const body = randomBytes(64 * 1024);
    await a.put(plain(url), sampleEntry(body), 60_000);
    await b.lookup(url, noVariant);
    const refreshed = sampleMeta({ etag: '"v2"', storedAt: 1234, bodyLength: body.length });
    countedA.reset();
    await a.refresh(plain(url), refreshed, 60_000);
    expect(countedA.replyBytes).toBeLessThan(100);
    countedB.reset();
    const found = await b.lookup(url, noVariant);
    expect(found?.entry.meta).toEqual(refreshed);
    expect(found?.entry.body.equals(body)).toBe(true);
    expect(countedB.roundTrips).toBe(2);
    expect(countedB.replyBytes).toBeLessThan(4096);
    // A's own near copy follows its refresh: a version check only.
    countedA.reset();
    expect((await a.lookup(url, noVariant))?.entry.meta).toEqual(refreshed);
    expect(countedA.replyBytes).toBe(ENTRY_HEADER_BYTES);
  });

  it('a URL A keeps refreshing costs B one round trip per refresh, meta included; checks go back to the header once it settles', async () => {
    const url = freshUrl();
    const body = randomBytes(32 * 1024);
    const storedAt = Date.now();
    await a.put(plain(url), sampleEntry(body, { storedAt }), 60_000);
    await b.lookup(url, noVariant);
    // Each refresh as a poller's 304 makes it: the same fields, later times (a meta of the same length).
    const metas = [0, 1, 2, 3].map((n) => sampleMeta({ storedAt: storedAt + n, bodyLength: body.length }));
    const refreshAt = (n: number) => metas[n]!;
    await a.refresh(plain(url), refreshAt(1), 60_000);
    countedB.reset();
    expect((await b.lookup(url, noVariant))?.entry.meta).toEqual(refreshAt(1));
    expect(countedB.roundTrips).toBe(2); // the first time B cannot know: header, then header + meta
    for (const n of [2, 3]) {
      await a.refresh(plain(url), refreshAt(n), 60_000);
      countedB.reset();
      const found = await b.lookup(url, noVariant);
      expect(found?.entry.meta).toEqual(refreshAt(n));
      expect(found?.entry.body.equals(body)).toBe(true);
      expect(countedB.roundTrips).toBe(1);
      expect(countedB.replyBytes).toBeLessThan(4096);
    }
    // A meta that grew does not fit the range B read: a second round trip, still right.
    const longer = sampleMeta({ etag: '"a longer validator than the stored one"', storedAt: storedAt + 4, bodyLength: body.length });
    await a.refresh(plain(url), longer, 60_000);
    countedB.reset();
    expect((await b.lookup(url, noVariant))?.entry.meta).toEqual(longer);
    expect(countedB.roundTrips).toBe(2);
    // Unchanged since: the first check still reads the meta along, and finding the same version
    // goes back to the header alone.
    await b.lookup(url, noVariant);
    countedB.reset();
    await b.lookup(url, noVariant);
    expect(countedB.replyBytes).toBe(ENTRY_HEADER_BYTES);
  });

  it('A puts a new body: B sees the new body', async () => {
    const url = freshUrl();
    await a.put(plain(url), sampleEntry(Buffer.from('first')), 60_000);
    expect((await b.lookup(url, noVariant))?.entry.body.toString()).toBe('first');
    await a.put(plain(url), sampleEntry(Buffer.from('second'), { etag: '"v2"' }), 60_000);
    const found = await b.lookup(url, noVariant);
    expect(found?.entry.body.toString()).toBe('second');
    expect(found?.entry.meta.etag).toBe('"v2"');
  });

  it('a 304 about a body another worker has since replaced does not rewrite the new body’s metadata', async () => {
    const url = freshUrl();
    await a.put(plain(url), sampleEntry(Buffer.from('old')), 60_000);
    await b.put(plain(url), sampleEntry(Buffer.from('newer'), { etag: '"b"' }), 60_000);
    await a.refresh(plain(url), sampleMeta({ etag: '"a2"', bodyLength: 3 }), 60_000);
    for (const store of [a, b]) {
      const found = await store.lookup(url, noVariant);
      expect(found?.entry.body.toString()).toBe('newer');
      expect(found?.entry.meta.etag).toBe('"b"');
      expect(found?.entry.meta.bodyLength).toBe(5);
    }
  });

  it('A invalidates: B misses, for a plain URL and for every variant', async () => {
    const plainUrl = freshUrl();
    const varyingUrl = freshUrl();
    await a.put(plain(plainUrl), sampleEntry(Buffer.from('p')), 60_000);
    await a.put({ url: varyingUrl, vary: ['accept'], variant: 'x' }, sampleEntry(Buffer.from('x')), 60_000);
    await a.put({ url: varyingUrl, vary: ['accept'], variant: 'y' }, sampleEntry(Buffer.from('y')), 60_000);
    expect(await b.lookup(plainUrl, noVariant)).toBeDefined();
    expect(await b.lookup(varyingUrl, () => 'x')).toBeDefined();
    expect(await b.lookup(varyingUrl, () => 'y')).toBeDefined();
    await a.invalidate(plainUrl);
    await a.invalidate(varyingUrl);
    expect(await b.lookup(plainUrl, noVariant)).toBeUndefined();
    expect(await b.lookup(varyingUrl, () => 'x')).toBeUndefined();
    expect(await b.lookup(varyingUrl, () => 'y')).toBeUndefined();
  });

  it('A changes how a URL varies: B follows (other names, then no Vary, then a plain entry turned varying)', async () => {
    const url = freshUrl();
    await a.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('by accept')), 60_000);
    expect((await b.lookup(url, () => 'a'))?.entry.body.toString()).toBe('by accept');
    await a.put({ url, vary: ['accept-language'], variant: 'l' }, sampleEntry(Buffer.from('by language')), 60_000);
    const asked: string[][] = [];
    const found = await b.lookup(url, (names) => (asked.push(names), names[0] === 'accept' ? 'a' : 'l'));
    expect(found?.entry.body.toString()).toBe('by language');
    expect(found?.address).toEqual({ url, vary: ['accept-language'], variant: 'l' });
    expect(asked.at(-1)).toEqual(['accept-language']);
    await a.put(plain(url), sampleEntry(Buffer.from('plain')), 60_000);
    // B may ask variantOf with the names it last saw before learning the URL no longer varies.
    const nowPlain = await b.lookup(url, () => 'l');
    expect(nowPlain?.entry.body.toString()).toBe('plain');
    expect(nowPlain?.address).toEqual(plain(url));
    await a.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(Buffer.from('varying again')), 60_000);
    const again = await b.lookup(url, () => 'a');
    expect(again?.entry.body.toString()).toBe('varying again');
    expect(again?.address).toEqual({ url, vary: ['accept'], variant: 'a' });
  });

  it('A refreshes a variant: B sees the new metadata and the same body', async () => {
    const url = freshUrl();
    const body = randomBytes(8192);
    await a.put({ url, vary: ['accept'], variant: 'a' }, sampleEntry(body), 60_000);
    await b.lookup(url, () => 'a');
    const refreshed = sampleMeta({ etag: '"a2"', bodyLength: body.length });
    await a.refresh({ url, vary: ['accept'], variant: 'a' }, refreshed, 60_000);
    countedB.reset();
    const found = await b.lookup(url, () => 'a');
    expect(found?.entry.meta).toEqual(refreshed);
    expect(found?.entry.body.equals(body)).toBe(true);
    expect(countedB.replyBytes).toBeLessThan(body.length);
  });

  it('an entry larger than nearCacheBytes is served whole every time and not kept', async () => {
    const small = new RedisEntryStore(countedB.connection, namespace, { nearCacheBytes: 64 * 1024 });
    const url = freshUrl();
    const body = randomBytes(100 * 1024);
    await small.put(plain(url), sampleEntry(body), 60_000);
    expect(small.nearCacheBytes).toBe(0);
    for (let i = 0; i < 2; i++) {
      countedB.reset();
      expect((await small.lookup(url, noVariant))?.entry.body.equals(body)).toBe(true);
      expect(countedB.roundTrips).toBe(1);
      expect(countedB.replyBytes).toBeGreaterThan(body.length);
    }
    expect(small.nearCacheBytes).toBe(0);
    await small.close();
  });

  it('holds no more than nearCacheBytes', async () => {
    const bounded = new RedisEntryStore(countedB.connection, namespace, { nearCacheBytes: 64 * 1024 });
    for (let i = 0; i < 10; i++) await bounded.put(plain(freshUrl()), sampleEntry(randomBytes(16 * 1024)), 60_000);
    expect(bounded.nearCacheBytes).toBeGreaterThan(0);
    expect(bounded.nearCacheBytes).toBeLessThanOrEqual(64 * 1024);
    await bounded.close();
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

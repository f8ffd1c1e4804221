// Entries written by the previous code (metadata v1, whose policy was http-cache-semantics'
// toObject()) in a store that outlives the process (Redis, disk): the proxy that owns its RFC 9111
// rules since must treat them as a miss, never read them with the new rules nor serve them.
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, RESP_TYPES } from '@redis/client';
import { viaProxy } from '../helpers/client.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { diskBackendForTests, tempCacheDir } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { decodeEntry, encodeEntry } from '../../src/store/redis/record.js';
import type { EntryMeta } from '../../src/store/types.js';

/** The metadata the previous code wrote for `meta`'s response: v1, and http-cache-semantics' form (its copy of the fields left out). */
function legacyMeta(meta: EntryMeta, url: string): unknown {
  const target = new URL(url);
  return {
    ...meta,
    v: 1,
    policy: { v: 1, t: meta.storedAt, sh: true, ch: 0.1, imm: 86_400_000, icc: false, st: meta.status, rescc: { 'max-age': '600' }, m: 'GET', u: url, h: target.host, a: true, reqh: null, reqcc: {} },
  };
}

let running: Array<TestProxy | Origin> = [];
afterEach(async () => {
  await Promise.all(running.map((s) => ('stop' in s ? s.stop() : s.close())));
  running = [];
});

/** An origin whose page changes after the first request: serving the stored one again would be wrong. */
async function changingOrigin(): Promise<Origin> {
  let served = 0;
  const origin = await startOrigin({
    '/page': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', etag: `"v${++served}"`, 'content-type': 'text/plain' }).end(`body ${served}`),
  });
  running.push(origin);
  return origin;
}

async function proxyOn(store: string, namespace?: string): Promise<TestProxy> {
  const proxy = await startProxy({ store, storeTimeoutMs: 5000, ...(namespace !== undefined && { namespace }) });
  running.push(proxy);
  return proxy;
}

/** The stored entry, written again in the previous format by `rewrite`; then a new proxy asks for the page. */
async function expectLegacyEntryIsAMiss(store: string, rewrite: (url: string) => Promise<void>, namespace?: string): Promise<void> {
  const origin = await changingOrigin();
  const url = `${origin.url}/page`;
  const first = await proxyOn(store, namespace);
  expect((await viaProxy(first.url, url)).text).toBe('body 1');
  await first.stop();
  running = running.filter((s) => s !== first);
  await rewrite(url);

  const second = await proxyOn(store, namespace);
  const answer = await viaProxy(second.url, url);

  expect(answer.status).toBe(200);
  expect(answer.text).toBe('body 2');
  expect(answer.headers['etag']).toBe('"v2"');
  expect(answer.headers['cache-status']).toContain('fwd=uri-miss');
  expect(origin.requests).toHaveLength(2);
}

describe('an entry in the previous format (metadata v1) is a miss, never served', () => {
  let redis: { url: string; stop(): Promise<void> };
  const namespace = testNamespace('legacy-entries');
  beforeAll(async () => {
    redis = await redisForTests();
  });
  afterAll(async () => {
    if (!redis) return;
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
  });

  it('Redis: a fresh entry the previous code wrote goes to the origin as a miss, and its answer replaces it', async () => {
    const raw = createClient({ url: redis.url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    raw.on('error', () => {});
    await raw.connect();
    try {
      await expectLegacyEntryIsAMiss(
        redis.url,
        async (url) => {
          const keys = await raw.keys(`${namespace}:e2:*`);
          expect(keys).toHaveLength(1);
          const record = decodeEntry((await raw.get(keys[0]!)) as Buffer)!;
          expect(record.meta.v).toBe(2);
          const legacy = Buffer.from(JSON.stringify(legacyMeta(record.meta, url)));
          await raw.set(keys[0]!, encodeEntry(Buffer.from(record.version), Buffer.from(record.bodyVersion), legacy, Buffer.from(record.body)), { PX: 60_000 });
        },
        namespace,
      );
    } finally {
      raw.destroy();
    }
  });

  it('disk: a fresh entry the previous code wrote goes to the origin as a miss, and its answer replaces it', async () => {
    const dir = tempCacheDir();
    try {
      await expectLegacyEntryIsAMiss(`disk:${dir}`, async (url) => {
        // The proxy's default --cache-size: another size would start the directory afresh.
        const backend = diskBackendForTests({ dir, cacheSizeBytes: defaultConfig().cacheSizeBytes });
        try {
          const { entries } = await backend.entries.scanPage!('0', 100);
          expect(entries).toHaveLength(1);
          const found = await backend.entries.lookup(entries[0]!.url, () => 'none');
          expect(found?.entry.meta.v).toBe(2);
          await backend.entries.put(found!.address, { meta: legacyMeta(found!.entry.meta, url) as EntryMeta, body: Buffer.from(found!.entry.body) }, 60_000);
        } finally {
          await backend.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// `--store redis+cluster://…`: the same store contracts against a real three-master Redis
// Cluster started by the test, plus two proxies sharing one cache through it. Keys of one URL
// share a hash tag, so multi-key scripts stay in one slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observe/log.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend } from '../../src/store/types.js';
import { coordinationContract, sharedStoreSubject, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, freshUrl, sampleEntry, sampleMeta } from '../contracts/entry-store.contract.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startOwnRedisCluster, testNamespace, type OwnRedisCluster } from '../helpers/redis.js';

let cluster: OwnRedisCluster;
const namespace = testNamespace('cluster');

beforeAll(async () => {
  cluster = await startOwnRedisCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const backend = <Rules>(ns = namespace): Promise<Backend<Rules>> =>
  createRedisBackend<Rules>({ url: cluster.url, namespace: ns, storeTimeoutMs: 5000, logger: silentLogger });

entryStoreContract('redis cluster', async () => {
  const made = await backend();
  return { store: made.entries, cleanup: () => made.close() };
});

coordinationContract('redis cluster', sharedStoreSubject((store) => backend<ContractRules>(`${namespace}:${store}`)));

describe('two proxies sharing one cache through a Redis Cluster', () => {
  let origin: Origin;
  let a: TestProxy;
  let b: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '/c': (req, res) => {
        if (req.headers['if-none-match'] === '"c1"') return void res.writeHead(304, { etag: '"c1"', 'cache-control': 'max-age=60' }).end();
        res.writeHead(200, { etag: '"c1"', 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('clustered');
      },
      '/slow': (_req, res) => void setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('slow'), 200),
    });
    const ns = testNamespace('cluster-proxies');
    a = await startProxy({ store: cluster.url, namespace: ns });
    b = await startProxy({ store: cluster.url, namespace: ns });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await origin?.close();
  });

  it('serves through B what A stored, with no second origin request', async () => {
    const stored = await viaProxy(a.url, `${origin.url}/c`);
    const hit = await viaProxy(b.url, `${origin.url}/c`);

    expect(stored.headers['cache-status']).toContain('fwd=uri-miss');
    expect(hit.status).toBe(200);
    expect(hit.text).toBe('clustered');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/c')).toHaveLength(1);
  });

  it('collapses concurrent misses on both proxies into one origin request', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => viaProxy(i % 2 ? a.url : b.url, `${origin.url}/slow`)));

    expect(answers.every((r) => r.status === 200 && r.text === 'slow')).toBe(true);
    expect(origin.requestsTo('/slow')).toHaveLength(1);
  });
});

// The refresh script also releases the revalidation's fill lock: its keys (entry, lock, Vary
// record) must hash to one slot, or a Cluster answers CROSSSLOT.
describe('a refresh that releases its fill lock on a Redis Cluster', () => {
  let made: Backend;
  beforeAll(async () => {
    made = await backend();
  });
  afterAll(async () => {
    await made?.close();
  });

  for (const variant of [null, 'gz']) {
    it(`refreshes ${variant ? 'a variant' : 'a plain entry'} and frees the lock in one script, in one slot`, async () => {
      const url = freshUrl();
      const address = { url, vary: variant ? ['accept-encoding'] : null, variant };
      await made.entries.put(address, sampleEntry(Buffer.from('clustered')), 60_000);
      const fill = variant ? `${url}:${variant}` : url;
      const lock = await made.coordination.acquireFill(fill, 60_000);
      expect(lock).not.toBeNull();
      await made.entries.refresh(address, sampleMeta({ etag: '"c2"', bodyLength: 9 }), 60_000, lock!);
      expect(await made.coordination.isFilling(fill)).toBe(false);
      const found = await made.entries.lookup(url, () => variant ?? 'none');
      expect(found?.entry.meta.etag).toBe('"c2"');
      expect(found?.entry.body.toString()).toBe('clustered');
    });
  }
});

describe('the change history in a Redis Cluster', () => {
  it('appends on one instance and nudges the watchers of another with the id (PUBLISH across the cluster), which reads it after its cursor', async () => {
    const [one, two] = [await backend(), await backend()];
    try {
      const heard: Array<string | undefined> = [];
      two.changes!.watch((id) => heard.push(id));
      const cursor = await two.changes!.latest();
      await new Promise((resolve) => setTimeout(resolve, 300)); // the subscription took hold
      const side = { etag: '"x"', lastModified: null, digest: 'sha-256=:AA==:' };
      const url = freshUrl();
      const appended = await one.changes!.append({ time: Date.now(), url, old: side, new: { ...side, etag: '"y"' }, size: 1, client: null }, url);
      const deadline = Date.now() + 3000;
      while (!heard.includes(appended.id) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(heard).toContain(appended.id);
      expect((await two.changes!.after(cursor, 10)).map((e) => e.id)).toContain(appended.id);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

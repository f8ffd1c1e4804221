// A client that stops reading a stored body while other clients churn the memory store: its
// body's page is held (never recycled under it), so what it reads later is intact; the others
// are served and stored meanwhile; the pool stays within --cache-size; and --send-timeout cuts
// a reader that never resumes, which frees its page.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { viaProxy } from '../helpers/client.js';
import { urlKey } from '../../src/cache/keys.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { MemoryEntryStore } from '../../src/store/memory/entry-store.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';

const MiB = 1024 * 1024;
// Larger than what loopback's socket buffers take from a reader that stopped: the proxy is still
// sending this body when the churn starts.
const BODY = 12 * MiB;
const PAGE = 16 * MiB;
const CAP = 6 * PAGE;

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin({
    '*': (req, res) => {
      const n = Number(/\/big\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(BODY) });
      res.end(Buffer.alloc(BODY, n));
    },
  });
});
afterAll(async () => {
  await origin.close();
});

async function proxyWithPages(sendTimeoutMs: number): Promise<{ proxy: TestProxy; store: MemoryEntryStore }> {
  const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: CAP, now: Date.now, pageBytes: PAGE });
  const proxy = await startProxy({ cacheSizeBytes: CAP, maxObjectSizeBytes: 32 * MiB, sendTimeoutMs }, { backend });
  return { proxy, store: backend.entries as MemoryEntryStore };
}

/** A GET through the proxy on a socket nobody reads from until resume(). */
function stalledGet(proxy: TestProxy, path: string) {
  const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`GET ${origin.url}${path} HTTP/1.1\r\nHost: ${origin.host}\r\nConnection: close\r\n\r\n`);
  return {
    closed,
    /** Read everything up to the proxy's close: the response's body. */
    async resume(): Promise<Buffer> {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await closed;
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      expect(all.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
      return all.subarray(headEnd + 4);
    },
    destroy: () => socket.destroy(),
  };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const filledWith = (body: Buffer, n: number) => body.length === BODY && body.every((byte) => byte === n);

describe('memory store: a client that stops reading while others churn the store', () => {
  it("keeps the stalled client's body intact, serves and stores the others, and stays within the cap", async () => {
    const { proxy, store } = await proxyWithPages(60_000);
    try {
      expect((await viaProxy(proxy.url, `${origin.url}/big/7`)).status).toBe(200);
      const stalled = stalledGet(proxy, '/big/7');
      await until(() => store.poolUsage().pinnedPages === 1);
      // Ten other 12 MiB bodies through a pool of six pages: every unpinned page is recycled.
      for (let n = 10; n < 20; n++) {
        const res = await viaProxy(proxy.url, `${origin.url}/big/${n}`);
        expect(res.status).toBe(200);
        expect(filledWith(res.body, n)).toBe(true);
        expect(store.poolUsage().heldBytes).toBeLessThanOrEqual(CAP);
      }
      expect(store.poolUsage().evictions).toBeGreaterThanOrEqual(4);
      const latest = await viaProxy(proxy.url, `${origin.url}/big/19`);
      expect(latest.headers['cache-status']).toMatch(/hit/);
      expect(filledWith(await stalled.resume(), 7)).toBe(true);
      await until(() => store.poolUsage().pinnedPages === 0);
    } finally {
      await proxy.stop();
    }
  });

  it('cuts a reader that never resumes at --send-timeout, which lets its page be recycled', async () => {
    const { proxy, store } = await proxyWithPages(1000);
    try {
      expect((await viaProxy(proxy.url, `${origin.url}/big/3`)).status).toBe(200);
      const stalled = stalledGet(proxy, '/big/3');
      await until(() => store.poolUsage().pinnedPages === 1);
      // The proxy cuts it (no progress for a second); the client, reading nothing, need not notice.
      await until(() => store.poolUsage().pinnedPages === 0);
      stalled.destroy();
      for (let n = 30; n < 37; n++) expect((await viaProxy(proxy.url, `${origin.url}/big/${n}`)).status).toBe(200);
      // Six pages, seven new bodies: the page that was held has been recycled too.
      expect(store.lookup(urlKey(new URL(`${origin.url}/big/3`)), () => '')).toBeUndefined();
      expect(store.poolUsage().heldBytes).toBeLessThanOrEqual(CAP);
    } finally {
      await proxy.stop();
    }
  });
});

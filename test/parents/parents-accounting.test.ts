// Parent proxies, step five: what each parent carried and what the cache saved each pool.
// The bytes on the wire the proxy counts for a parent equal the bytes the parent (proxy-chain)
// counted on its side; a hit costs the pool nothing and counts as avoided; a 304 counts the
// stored body it stood for as avoided; pricePerGB turns bytes into money (issue 19, "What it saved").
import { afterEach, describe, expect, it } from 'vitest';
import { emptyParents, parseParents } from '../../src/parents/config.js';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { createLogger } from '../../src/observe/log.js';
import { statsOf } from '../../src/observe/stats.js';
import { formatStats } from '../../src/cli/stats-command.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { startParent } from '../helpers/parent.js';
import { startProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('per-pool accounting', () => {
  it('counts the bytes the parent carried exactly as the parent does, and what hits and 304s avoided', async () => {
    const big = Buffer.alloc(50_000, 'x');
    const etag = '"big-1"';
    const origin = await startOrigin({
      '/big': (req, res) => {
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
        res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'application/octet-stream' }).end(big);
      },
      '/fresh': respond(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, 'fresh body'),
    });
    cleanups.push(() => origin.close());
    const chain = await startParent({ user: 'u', password: 'accounting-pw' });
    cleanups.push(() => chain.close());
    const parents = parseParents('parents', { pools: { paid: { parents: [chain.url.replace('://', '://u:accounting-pw@')], pricePerGB: 4 } } }, emptyParents());
    const proxy = await startProxy({ parents });
    cleanups.push(() => proxy.stop());

    expect((await viaProxy(proxy.url, `${origin.url}/big`)).body.length).toBe(50_000); // miss through the parent
    expect((await viaProxy(proxy.url, `${origin.url}/big`)).body.length).toBe(50_000); // 304 through the parent, 200 to the client
    expect((await viaProxy(proxy.url, `${origin.url}/fresh`)).text).toBe('fresh body'); // miss
    expect((await viaProxy(proxy.url, `${origin.url}/fresh`)).text).toBe('fresh body'); // hit: no parent traffic
    expect((await viaProxy(proxy.url, `${origin.url}/fresh`)).text).toBe('fresh body'); // hit

    const stats = statsOf(await proxy.proxy.ctx.metrics.registry.getMetricsAsJSON() as Parameters<typeof statsOf>[0]);
    const paid = stats.parents!['paid']!;
    const atParent = chain.bytes();
    expect(chain.requests).toHaveLength(3);
    expect(paid).toMatchObject({ requests: 3, notModified: 1, errors: 0, bans: 0, avoidedRequests: 2, pricePerGB: 4 });
    expect(paid.sentBytes).toBe(atParent.fromProxy);
    expect(paid.receivedBytes).toBe(atParent.toProxy);
    expect(paid.receivedBytes).toBeGreaterThan(50_000);
    expect(paid.receivedBytes).toBeLessThan(52_000);
    expect(paid.avoidedBytes).toBe(50_000 + 2 * 'fresh body'.length);
    expect(paid.moneySaved).toBe(Math.round((paid.avoidedBytes / 1e9) * 4 * 100) / 100);
    expect(paid.byParent[chain.url]).toMatchObject({ requests: 3, notModified: 1, notModifiedAvoidedBytes: 50_000 });

    const text = await proxy.proxy.ctx.metrics.registry.metrics();
    expect(text).toContain(`etag_proxy_parent_received_bytes_total{pool="paid",parent="${chain.url}"} ${paid.receivedBytes}`);
    expect(text).toContain(`etag_proxy_parent_avoided_bytes_total{pool="paid"} ${paid.avoidedBytes}`);
    expect(text).toContain(`etag_proxy_parent_not_modified_avoided_bytes_total{pool="paid",parent="${chain.url}"} 50000`);
    expect(text).not.toContain('accounting-pw');
    expect(formatStats(stats)).toMatch(/pool paid\s+3 requests, 1 304s, 0 errors, 0 bans/);

    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, createLogger('silent'));
    cleanups.push(() => admin.close());
    const overHttp = (await (await fetch(`${admin.url}/stats`)).json()) as { parents: Record<string, { avoidedBytes: number }> };
    expect(overHttp.parents['paid']!.avoidedBytes).toBe(paid.avoidedBytes);
    const page = await (await fetch(`${admin.url}/`)).text();
    expect(page).toContain('<h2>Parent pools</h2>');
    expect(page).toMatch(/<td>paid<\/td><td>3<\/td><td>1<\/td>/);
  });
});

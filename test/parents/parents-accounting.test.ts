// Parent proxies, step five: what each parent carried and what the cache saved each pool.
// The bytes on the wire the proxy counts for a parent equal the bytes the parent (proxy-chain)
// counted on its side; a hit costs the pool nothing and counts as avoided; a 304 counts the
// stored body it stood for as avoided; pricePerGB turns bytes into money (issue 19, "What it saved").
// The same figures per parent in /stats, `etag-proxy stats` and the status page, whose pools
// table follows /stats as the rest of the page does.
import { afterEach, describe, expect, it } from 'vitest';
import { emptyParents, parseParents } from '../../src/parents/config.js';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { createLogger } from '../../src/observe/log.js';
import { statsOf } from '../../src/observe/stats.js';
import { formatStats } from '../../src/cli/stats-command.js';
import { formatBytes as formatBytesOf } from '../../src/admin/status-html.js';
import { runCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { startParent } from '../helpers/parent.js';
import { startProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';
import { runStatusScript } from '../helpers/status-script.js';

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

  it('reports per parent what it carried, the 304 bodies it did not carry and the money that saved, in /stats, `etag-proxy stats` and the live status page', async () => {
    const body = Buffer.alloc(100_000, 'y');
    const etag = '"doc-1"';
    const origin = await startOrigin({
      '/doc': (req, res) => {
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
        res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'application/octet-stream' }).end(body);
      },
    });
    cleanups.push(() => origin.close());
    const chains = [await startParent(), await startParent()];
    for (const chain of chains) cleanups.push(() => chain.close());
    const [first, second] = chains.map((c) => c.url) as [string, string];
    // 10000 per GB: 100 kB is 1.00, so the cents show.
    const parents = parseParents('parents', { pools: { resi: { parents: [first, second], selection: 'round-robin', pricePerGB: 10_000 } } }, emptyParents());
    const proxy = await startProxy({ parents });
    cleanups.push(() => proxy.stop());
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, createLogger('silent'));
    cleanups.push(() => admin.close());
    const statsNow = async () => ((await (await fetch(`${admin.url}/stats`)).json()) as ReturnType<typeof statsOf>).parents!['resi']!;

    expect((await viaProxy(proxy.url, `${origin.url}/doc`)).body.length).toBe(100_000); // miss through the first
    expect((await viaProxy(proxy.url, `${origin.url}/doc`)).body.length).toBe(100_000); // 304 through the second
    expect(chains.map((c) => c.requests.length)).toEqual([1, 1]);

    const before = await statsNow();
    expect(before.byParent[first]).toMatchObject({ requests: 1, notModified: 0, errors: 0, notModifiedAvoidedBytes: 0, moneySaved: 0 });
    expect(before.byParent[second]).toMatchObject({ requests: 1, notModified: 1, errors: 0, notModifiedAvoidedBytes: 100_000, moneySaved: 1 });
    for (const [i, chain] of chains.entries()) {
      const counted = before.byParent[chain.url]!;
      expect([counted.sentBytes, counted.receivedBytes], `parent ${i}`).toEqual([chain.bytes().fromProxy, chain.bytes().toProxy]);
      expect(counted.moneySpent).toBe(Math.round((counted.receivedBytes / 1e9) * 10_000 * 100) / 100);
    }
    expect(before.byParent[first]!.receivedBytes).toBeGreaterThan(100_000);
    expect(before.byParent[second]!.receivedBytes).toBeLessThan(1_000);

    // `etag-proxy stats`: each parent under its pool, with the 304 bodies it did not carry.
    const cli = await runCli(['stats', '--admin-url', admin.url]);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/^pool resi\s+2 requests, 1 304s, 0 errors, 0 bans$/m);
    expect(cli.stdout).toMatch(/^ {2}avoided\s+0 requests, 97\.7 KiB \(saved 1\.00 at 10000\/GB\)$/m);
    const perParent = cli.stdout.split(/^ {2}parent\s+/m).slice(1);
    expect(perParent.map((block) => block.split('\n')[0])).toEqual([first, second]);
    expect(perParent[0]).toMatch(/^ {4}carried\s+1 requests, 0 304s, 0 errors, 0 bans$/m);
    expect(perParent[0]).toMatch(/^ {4}avoided by 304s\s+0 B \(saved 0\.00 at 10000\/GB\)$/m);
    expect(perParent[1]).toMatch(/^ {4}carried\s+1 requests, 1 304s, 0 errors, 0 bans$/m);
    expect(perParent[1]).toMatch(new RegExp(`^ {4}on the wire\\s+${before.byParent[second]!.receivedBytes} B received, ${before.byParent[second]!.sentBytes} B sent$`, 'm'));
    expect(perParent[1]).toMatch(/^ {4}avoided by 304s\s+97\.7 KiB \(saved 1\.00 at 10000\/GB\)$/m);

    // The status page: one row per pool, one per parent, rendered at load...
    const html = await (await fetch(`${admin.url}/`)).text();
    expect(html).toContain('<tbody id="pools"><tr><td>resi</td><td>2</td><td>1</td><td>0 / 0</td>');
    expect(html).toContain(`<tr><td>↳ ${first}</td><td>1</td><td>0</td>`);
    expect(html).toContain(`<tr><td>↳ ${second}</td><td>1</td><td>1</td><td>0 / 0</td>`);
    expect(html).toContain('<td>97.7 KiB by 304s</td><td>1.00 at 10000/GB</td></tr>');
    // ...and, like the numbers above it, refreshed from /stats by the page's script.
    const script = runStatusScript(html, admin.url);
    await script.refresh();
    const shown = script.rows('pools')!;
    expect(shown.map((cells) => cells.slice(0, 3))).toEqual([['resi', '2', '1'], [`↳ ${first}`, '1', '0'], [`↳ ${second}`, '1', '1']]);

    expect((await viaProxy(proxy.url, `${origin.url}/doc`)).body.length).toBe(100_000); // 304 through the first
    const after = await statsNow();
    expect(after.byParent[first]).toMatchObject({ requests: 2, notModified: 1, notModifiedAvoidedBytes: 100_000, moneySaved: 1 });
    expect(after.avoidedBytes).toBe(200_000);
    await script.refresh();
    expect(script.rows('pools')).toEqual([
      ['resi', '3', '2', '0 / 0', formatBytesOf(after.sentBytes), formatBytesOf(after.receivedBytes), '0 requests, 195.3 KiB', '2.00 at 10000/GB'],
      [`↳ ${first}`, '2', '1', '0 / 0', formatBytesOf(after.byParent[first]!.sentBytes), formatBytesOf(after.byParent[first]!.receivedBytes), '97.7 KiB by 304s', '1.00 at 10000/GB'],
      [`↳ ${second}`, '1', '1', '0 / 0', formatBytesOf(after.byParent[second]!.sentBytes), formatBytesOf(after.byParent[second]!.receivedBytes), '97.7 KiB by 304s', '1.00 at 10000/GB'],
    ]);
  });
});


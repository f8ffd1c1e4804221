// `etag-proxy changes`: a URL's history, and --follow printing changes live from the stream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/observe/log.js';
import { runCli, startCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually, sleep } from '../helpers/respond.js';

describe('etag-proxy changes', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const state = { version: 1 };
  let origin: Origin;
  let proxy: TestProxy;
  let admin: AdminServer;

  beforeAll(async () => {
    origin = await startOrigin({
      '*': (req, res) => {
        const etag = `"c${state.version}"`;
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'max-age=10' }).end();
        res.writeHead(200, { etag, 'cache-control': 'max-age=10' }).end(`v${state.version}`);
      },
    });
    proxy = await startProxy({}, { now: clock.now });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: 'ch' }, silentLogger);
  });
  afterAll(async () => {
    await admin.close();
    await proxy.stop();
    await origin.close();
  });

  const change = async (url: string) => {
    state.version++;
    clock.advance(20);
    await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'poller-9' } });
    await eventually(() => proxy.proxy.ctx.background.size === 0);
  };

  it('--follow prints each change as it comes; a URL shows its history', async () => {
    const url = `${origin.url}/watched`;
    await viaProxy(proxy.url, url);
    const follower = startCli(['changes', '--follow', '--host', origin.host, '--admin-url', admin.url, '--admin-token', 'ch']);
    try {
      await follower.waitFor('following changes at', 1, 10_000);
      await sleep(300); // past the stream's first read
      await change(url);
      await follower.waitFor(`${url}  "c1" → "c2"  2 B  client poller-9`, 1, 5000);
    } finally {
      await follower.stop();
    }
    const history = await runCli(['changes', url, '--json', '--admin-url', admin.url, '--admin-token', 'ch']);
    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split('\n').map((line) => JSON.parse(line) as { new: { etag: string } });
    expect(lines.map((l) => l.new.etag)).toEqual(['"c2"']);
    const text = await runCli(['changes', url, '--admin-url', admin.url, '--admin-token', 'ch']);
    expect(text.stdout).toMatch(new RegExp(`^\\S+  ${url}  "c1" → "c2"  2 B  client poller-9\nlast checked \\S+Z, unchanged 0 times\n$`));
    clock.advance(20);
    await viaProxy(proxy.url, url); // an unchanged 304
    await eventually(() => proxy.proxy.ctx.background.size === 0);
    const checked = await runCli(['changes', url, '--admin-url', admin.url, '--admin-token', 'ch']);
    expect(checked.stdout).toContain(`last checked ${new Date(clock.now()).toISOString()}, unchanged 1 time\n`);
    const refused = await runCli(['changes', url, '--admin-url', admin.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('401');
  });

  it('--follow says why when the proxy drops its stream, and resumes after the last id it was sent', async () => {
    // A stand-in admin API: the first stream sends one change, then the proxy's final event.
    const resumedWith: Array<string | undefined> = [];
    const event = { id: '1764625203120-7', time: 1764625203120, url: 'http://example.com/feed', old: { etag: '"a"', lastModified: null, digest: 'sha-256=:AA==:' }, new: { etag: '"b"', lastModified: null, digest: 'sha-256=:AB==:' }, size: 3, client: null };
    const stand = http.createServer((req, res) => {
      resumedWith.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (resumedWith.length > 1) return; // the resumed stream stays open
      res.write(`id: ${event.id}\nevent: change\ndata: ${JSON.stringify(event)}\n\n`);
      res.end(`id: ${event.id}\nevent: dropped\ndata: ${JSON.stringify({ reason: 'not reading: 300000 bytes of events wait to be read (the limit is 262144)', lastEventId: event.id })}\n\n`);
    });
    await new Promise<void>((resolve) => stand.listen(0, '127.0.0.1', resolve));
    const follower = startCli(['changes', '--follow', '--admin-url', `http://127.0.0.1:${(stand.address() as AddressInfo).port}`]);
    try {
      await follower.waitFor('stream dropped by the proxy: not reading: 300000 bytes', 1, 10_000);
      await eventually(() => resumedWith.length === 2, 5000);
      expect(resumedWith).toEqual([undefined, event.id]);
      expect(follower.output()).toContain('http://example.com/feed  "a" → "b"  3 B');
    } finally {
      await follower.stop();
      stand.closeAllConnections();
      stand.close();
    }
  });
});


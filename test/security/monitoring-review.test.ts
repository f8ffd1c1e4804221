// Regression tests from the security review of --watch, the status page and the access log:
// each was a defect before its fix (see the commit that adds it). --watch: an interval past
// node's timer range fired every millisecond; thousands of watched hosts could hold thousands of
// connections at once (taking --max-connections from clients); config errors printed a watched
// URL's credentials. --log-file: created readable by every local user. The admin listener: a
// target starting with // was parsed as an authority: a 500 (and a warn line) for anyone, before
// the token check, or another route than the one asked for. The last test pins what the review
// found already right: a watched URL never reaches the admin listener, by name or by redirect.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { loadConfig } from '../../src/config/load.js';
import { openLogDestination } from '../../src/observe/log-destination.js';
import { createLogger, silentLogger } from '../../src/observe/log.js';
import { startWatcher } from '../../src/observe/watch.js';
import { startOrigin } from '../helpers/origin.js';
import { startProxy } from '../helpers/proxy.js';
import { sleep } from '../helpers/respond.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-review-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('--watch intervals beyond node\'s timer range', () => {
  it('refuses a watch interval above 24d with its key, instead of checking every millisecond', () => {
    expect(() => loadConfig({ watch: ['http://example.com/'], 'watch-every': '30d' })).toThrow(/^--watch-every: expected a duration of at most 24d, got "30d"$/);
    const file = join(tempDir(), 'urls.txt');
    writeFileSync(file, 'http://example.com/a 60d\n');
    expect(() => loadConfig({ watch: [`@${file}`] })).toThrow(/line 1\): expected a duration of at most 24d, got "60d"$/);
    expect(loadConfig({ watch: ['http://example.com/'], 'watch-every': '24d' }).watchEveryMs).toBe(24 * 86_400_000);
  });

  it('asks a URL watched every 30 days once, not again and again (a timer past 2^31-1 ms fires at once)', async () => {
    const origin = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { etag: '"a"', 'cache-control': 'max-age=60' }).end('x') });
    const proxy = await startProxy({});
    // random() = 0: the first check is due at once, the next at 0.9 × 30 days.
    const watcher = startWatcher(proxy.proxy, { watch: [{ url: `${origin.url}/monthly` }], watchEveryMs: 30 * 86_400_000, upstreamTimeoutMs: 5000 }, silentLogger, () => 0);
    try {
      await sleep(1500);
      expect(origin.requestsTo('/monthly')).toHaveLength(1);
    } finally {
      await watcher.stop();
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('--watch with many hosts', () => {
  const WATCH_MAX_IN_FLIGHT = 64; // observe/watch.ts
  it(`keeps at most ${WATCH_MAX_IN_FLIGHT} checks in flight across all hosts, so a long list never takes the clients' connections`, async () => {
    const state = { inFlight: 0, max: 0, answered: 0 };
    const hostCount = WATCH_MAX_IN_FLIGHT + 16;
    // One origin per host (a host is name and port), each slow, all due at once.
    const origins = await Promise.all(
      Array.from({ length: hostCount }, () =>
        startOrigin({
          '*': async (_req, res) => {
            state.max = Math.max(state.max, ++state.inFlight);
            await sleep(1000);
            state.inFlight--;
            state.answered++;
            res.writeHead(200, { 'cache-control': 'no-store' }).end('x');
          },
        }),
      ),
    );
    const proxy = await startProxy({});
    const watch = origins.map((origin) => ({ url: `${origin.url}/feed` }));
    const watcher = startWatcher(proxy.proxy, { watch, watchEveryMs: 60_000, upstreamTimeoutMs: 5000 }, silentLogger, () => 0);
    try {
      const deadline = Date.now() + 20_000;
      while (state.answered < hostCount && Date.now() < deadline) await sleep(100);
      expect(state.answered).toBe(hostCount); // every host is still checked
      expect(state.max).toBeLessThanOrEqual(WATCH_MAX_IN_FLIGHT);
    } finally {
      await watcher.stop();
      await proxy.stop();
      await Promise.all(origins.map((origin) => origin.close()));
    }
  }, 30_000);
});

describe('--watch configuration errors and credentials', () => {
  it('never prints the password or a secret query value of a watched URL in a config error', () => {
    const dir = tempDir();
    const file = join(dir, 'urls.txt');
    writeFileSync(file, 'http://user:hunter2@example.com/feed?api_key=s3cret 1m extra\n');
    expect(() => loadConfig({ watch: [`@${file}`] })).toThrow(/expected a URL and an optional interval/);
    try {
      loadConfig({ watch: [`@${file}`] });
    } catch (error) {
      expect((error as Error).message).not.toMatch(/hunter2|s3cret/);
    }
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `watch:\n  - { url: "http://user:hunter2@example.com/?token=s3cret", file: ${file} }\n`);
    expect(() => loadConfig({ config })).toThrow(/expected one of url or file/);
    try {
      loadConfig({ config });
    } catch (error) {
      expect((error as Error).message).not.toMatch(/hunter2|s3cret/);
    }
  });

  it('refuses a watched URL with userinfo at load (the proxy answers such a target 400, so it could never be checked)', () => {
    expect(() => loadConfig({ watch: ['http://user:hunter2@example.com/feed'] })).toThrow(/^--watch: userinfo is not allowed in a watched URL, got "http:\/\/user:\*\*\*@example.com\/feed"$/);
  });
});

describe('--log-file permissions', () => {
  it('creates the log file readable and writable by its owner only (0600)', () => {
    const file = join(tempDir(), 'logs', 'access.log');
    openLogDestination(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

/** One raw request to `port`; the whole answer as text. */
function rawAdmin(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the admin listener and malformed request-targets', () => {
  it('reads an origin-form target starting with // as a path: a 401 without the token, a 404 with it (it was a 500 "internal error" for anyone, or another route)', async () => {
    const proxy = await startProxy({});
    const lines: string[] = [];
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: 'review-token' }, createLogger('info', (line) => void lines.push(line)));
    try {
      const port = Number(new URL(admin.url).port);
      const ask = (path: string, auth = '') => rawAdmin(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${auth}Connection: close\r\n\r\n`);
      expect(await ask('//[')).toMatch(/^HTTP\/1\.1 401 /);
      expect(lines.join('')).not.toContain('"level":"warn"');
      const withToken = await ask('//[', 'Authorization: Bearer review-token\r\n');
      expect(withToken).toMatch(/^HTTP\/1\.1 404 /);
      expect(withToken).toContain('no admin route //[');
      // `//stats` is not an authority "stats" with the path `/` (which was the status page).
      expect(await ask('//stats', 'Authorization: Bearer review-token\r\n')).toMatch(/^HTTP\/1\.1 404 /);
    } finally {
      await admin.close();
      await proxy.stop();
    }
  });
});

describe('--watch never reaches the admin API', () => {
  it('refuses a watched URL of the admin listener (by name, after DNS), and never follows an origin\'s redirect to it', async () => {
    const proxy = await startProxy({});
    const adminLines: string[] = [];
    const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, createLogger('info', (line) => void adminLines.push(line)));
    const adminPort = new URL(admin.url).port;
    const origin = await startOrigin({ '*': (_req, res) => void res.writeHead(302, { location: `${admin.url}/policies`, 'cache-control': 'max-age=60' }).end() });
    const lines: string[] = [];
    const watch = [{ url: `http://localhost:${adminPort}/cache` }, { url: `${origin.url}/moved` }];
    const watcher = startWatcher(proxy.proxy, { watch, watchEveryMs: 1000, upstreamTimeoutMs: 5000 }, createLogger('info', (line) => void lines.push(line)), () => 0);
    try {
      const deadline = Date.now() + 10_000;
      while ((watcher.size > 1 || origin.requests.length < 2) && Date.now() < deadline) await sleep(100);
      expect(watcher.size).toBe(1); // the admin URL left the list; the redirecting one stays
      expect(lines.join('\n')).toMatch(/watch: destination refused.*own listener/);
      expect(origin.requests.length).toBeGreaterThanOrEqual(2);
      expect(adminLines).toEqual([]); // not one request reached the admin listener
    } finally {
      await watcher.stop();
      await admin.close();
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('the status page cookie', () => {
  it('is no fast digest of the token (browsers send it to every port of the host), yet the same for every admin server with that token', async () => {
    const token = 'weak-1234';
    const cookies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const proxy = await startProxy({});
      const admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token }, silentLogger);
      try {
        const exchange = await fetch(`${admin.url}/?token=${token}`, { redirect: 'manual' });
        expect(exchange.status).toBe(303);
        const cookie = (exchange.headers.get('set-cookie') ?? '').split(';')[0]!;
        expect((await fetch(`${admin.url}/stats`, { headers: { cookie } })).status).toBe(200);
        cookies.push(cookie.slice(cookie.indexOf('=') + 1));
      } finally {
        await admin.close();
        await proxy.stop();
      }
    }
    expect(cookies[0]).toBe(cookies[1]); // workers and restarts accept it
    // A SHA-256 of the token (with or without a prefix) costs a guesser nothing per try.
    const sha = (text: string) => createHash('sha256').update(text).digest('base64url');
    expect(cookies[0]).not.toBe(sha(`etag-proxy status page\0${token}`));
    expect(cookies[0]).not.toBe(sha(token));
  });
});

// --watch on the wire: the proxy revalidates watched URLs itself, with the validators it stored,
// so a changed ETag becomes an event on /changes and the SSE stream without any client request,
// and an unchanged 304 only counts as "checked, unchanged"; the destination guard applies to
// watched URLs as to clients; one request per host at a time; bad --watch input is exit 2.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger, createLogger } from '../../src/observe/log.js';
import { startWatcher, type Watcher } from '../../src/observe/watch.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import { createRedisBackend } from '../../src/store/redis/backend.js';
import type { Backend, ChangeEvent, CheckSummary } from '../../src/store/types.js';
import { freePort, runCli, startCli } from '../helpers/cli.js';
import { diskBackendForTests } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { sleep } from '../helpers/respond.js';

let redis: { url: string; stop(): Promise<void> };
const namespace = testNamespace('watch');
beforeAll(async () => {
  redis = await redisForTests();
});
afterAll(async () => {
  await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

/** Poll `read` until `done` holds; generous, the machine is shared. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(100);
  }
}

type History = { url: string; changes: ChangeEvent[] } & CheckSummary;

/** An origin whose /feed-N answers 304 to its current ETag and counts what it got. */
async function feedOrigin(state: { version: number; delayMs?: number; inFlight?: number; maxInFlight?: number }): Promise<Origin> {
  return startOrigin({
    '*': async (req, res) => {
      state.inFlight = (state.inFlight ?? 0) + 1;
      state.maxInFlight = Math.max(state.maxInFlight ?? 0, state.inFlight);
      if (state.delayMs) await sleep(state.delayMs);
      state.inFlight--;
      const etag = `"v${state.version}"`;
      const headers = { etag, 'cache-control': 'max-age=3600' };
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
      res.writeHead(200, headers).end(`version ${state.version} of ${req.url}`);
    },
  });
}

const stores: Array<[string, () => Promise<Backend<StoredPolicies>>]> = [
  ['memory', async () => createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 24, now: Date.now })],
  ['redis', () => createRedisBackend<StoredPolicies>({ url: redis.url, namespace, storeTimeoutMs: 1000, logger: silentLogger })],
  ['disk', async () => diskBackendForTests<StoredPolicies>()],
];

describe.each(stores)('--watch (%s store)', (_name, makeBackend) => {
  const state = { version: 1 } as { version: number; delayMs?: number; inFlight?: number; maxInFlight?: number };
  let origin: Origin;
  let proxy: TestProxy;
  let admin: AdminServer;
  let backend: Backend<StoredPolicies>;
  let watcher: Watcher | undefined;
  let path = 0;

  beforeAll(async () => {
    origin = await feedOrigin(state);
    backend = await makeBackend();
    proxy = await startProxy({}, { backend });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
  });
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
    Object.assign(state, { version: 1, delayMs: 0, maxInFlight: 0 });
  });
  afterAll(async () => {
    await admin.close();
    await proxy.stop();
    await backend.close();
    await origin.close();
  });

  const history = async (url: string): Promise<History> => {
    const res = await fetch(`${admin.url}/changes?url=${encodeURIComponent(url)}`);
    expect(res.status).toBe(200);
    return (await res.json()) as History;
  };
  const watch = (urls: string[], everyMs = 1000) => {
    watcher = startWatcher(proxy.proxy, { watch: urls.map((url) => ({ url })), watchEveryMs: everyMs, upstreamTimeoutMs: 5000 }, silentLogger);
    return watcher;
  };

  it('finds a changed ETag with no client request: one event on /changes and on the SSE stream, client "watch"', async () => {
    const url = `${origin.url}/feed-${++path}`;
    const stream = await fetch(`${admin.url}/changes/stream`);
    const reader = stream.body!.getReader();
    watch([url]);
    // The first check stores the page (no event: nothing was stored to differ from).
    await until(async () => origin.requestsTo(`/feed-${path}`).length, (n) => n >= 1);
    state.version = 2;
    const found = await until(() => history(url), (h) => h.changes.length >= 1);
    expect(found.changes).toHaveLength(1);
    expect(found.changes[0]).toMatchObject({ url, client: 'watch', old: { etag: '"v1"' }, new: { etag: '"v2"' } });
    // Every check after the first carried the stored validator.
    const requests = origin.requestsTo(`/feed-${path}`);
    expect(requests[0]!.headers['if-none-match']).toBeUndefined();
    for (const request of requests.slice(1)) expect(request.headers['if-none-match']).toMatch(/^"v[12]"$/);
    let text = '';
    const decoder = new TextDecoder();
    const deadline = Date.now() + 10_000;
    while (!text.includes('event: change') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    expect(text).toContain(`"url":"${url}"`);
    expect(text).toContain('"client":"watch"');
  });

  it('an unchanged 304 is no event: it advances the checked-unchanged counter and the last-checked time', async () => {
    const url = `${origin.url}/feed-${++path}`;
    const before = Date.now();
    watch([url]);
    const checked = await until(() => history(url), (h) => h.unchanged >= 2);
    expect(checked.changes).toEqual([]);
    expect(checked.unchanged).toBeGreaterThanOrEqual(2);
    expect(checked.lastChecked).toBeGreaterThanOrEqual(before);
    const statuses = origin.requestsTo(`/feed-${path}`).slice(1);
    expect(statuses.every((r) => r.headers['if-none-match'] === '"v1"')).toBe(true);
    const later = await until(() => history(url), (h) => h.unchanged > checked.unchanged);
    expect(later.lastChecked).toBeGreaterThan(checked.lastChecked!);
  });

  it('asks one host one URL at a time, and stops cleanly: no request after stop()', async () => {
    state.delayMs = 300;
    const urls = [1, 2, 3, 4].map(() => `${origin.url}/feed-${++path}`);
    const first = path - 3;
    watch(urls);
    await until(async () => urls.filter((_, i) => origin.requestsTo(`/feed-${first + i}`).length >= 2).length, (n) => n === urls.length, 15_000);
    expect(state.maxInFlight).toBe(1);
    await watcher!.stop();
    const count = origin.requests.length;
    await sleep(1500);
    expect(origin.requests.length).toBe(count);
  });
});

describe('--watch and the destination guard', () => {
  it('does not fetch a watched URL the guard refuses (--restrict-destinations yes): one log line, no more tries', async () => {
    const origin = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end('x') });
    const lines: string[] = [];
    const proxy = await startProxy({ restrictDestinations: 'yes' }, { logger: createLogger('warn', (line) => void lines.push(line)) });
    const watcher = startWatcher(proxy.proxy, { watch: [{ url: `${origin.url}/secret` }], watchEveryMs: 1000, upstreamTimeoutMs: 5000 }, createLogger('info', (line) => void lines.push(line)));
    try {
      await until(async () => watcher.size, (size) => size === 0);
      await sleep(2500); // two more intervals: nothing is tried again
      expect(watcher.size).toBe(0);
      expect(origin.requests).toHaveLength(0);
      expect(lines.filter((line) => line.includes('watch: destination refused'))).toHaveLength(1);
      expect(lines.find((line) => line.includes('watch: destination refused'))).toContain('loopback');
    } finally {
      await watcher.stop();
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('--watch and its own listener', () => {
  it('never watches a URL of the proxy itself, and says so once', async () => {
    const lines: string[] = [];
    const proxy = await startProxy({});
    const watcher = startWatcher(proxy.proxy, { watch: [{ url: `${proxy.url}/` }], watchEveryMs: 1000, upstreamTimeoutMs: 5000 }, createLogger('info', (line) => void lines.push(line)));
    try {
      await until(async () => watcher.size, (size) => size === 0);
      expect(lines.filter((line) => line.includes('watch: destination refused'))).toHaveLength(1);
      expect(lines.join('\n')).toContain("this proxy's own listener");
    } finally {
      await watcher.stop();
      await proxy.stop();
    }
  });

  it('logs a failing check once, and its recovery once', async () => {
    let down = true;
    const origin = await startOrigin({ '*': (_req, res) => void res.writeHead(down ? 503 : 200, { 'cache-control': 'no-store' }).end('x') });
    const lines: string[] = [];
    const proxy = await startProxy({});
    const watcher = startWatcher(proxy.proxy, { watch: [{ url: `${origin.url}/flaky` }], watchEveryMs: 1000, upstreamTimeoutMs: 5000 }, createLogger('info', (line) => void lines.push(line)));
    try {
      await until(async () => origin.requests.length, (n) => n >= 3);
      expect(lines.filter((line) => line.includes('watch: check failed'))).toHaveLength(1);
      down = false;
      await until(async () => lines.filter((line) => line.includes('watch: checks succeed again')).length, (n) => n >= 1);
      const seen = origin.requests.length;
      await until(async () => origin.requests.length, (n) => n >= seen + 1);
      expect(lines.filter((line) => line.includes('watch: checks succeed again'))).toHaveLength(1);
      expect(lines.filter((line) => line.includes('watch: check failed'))).toHaveLength(1);
    } finally {
      await watcher.stop();
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('etag-proxy --watch (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-watch-'));

  it('watches the URLs of --watch and @file: the start-up line counts them, a change reaches GET /changes, SIGTERM stops it', async () => {
    const state = { version: 1 };
    const origin = await feedOrigin(state);
    const file = join(dir, 'urls.txt');
    writeFileSync(file, `# feeds\n${origin.url}/from-file\n\n${origin.url}/slow 1h\n`);
    const [port, adminPort] = [await freePort(), await freePort()];
    const cli = startCli(['--port', String(port), '--admin-port', String(adminPort), '--watch', `${origin.url}/from-flag`, '--watch', `@${file}`, '--watch-every', '1s']);
    try {
      await cli.waitFor('listening on');
      expect(cli.output()).toMatch(/"watch":3/);
      await cli.waitFor('"msg":"watching"');
      await until(async () => origin.requestsTo('/from-flag').length, (n) => n >= 1);
      state.version = 2;
      const url = `${origin.url}/from-flag`;
      const read = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/changes?url=${encodeURIComponent(url)}`)).json()) as History;
      const found = await until(read, (h) => h.changes.length >= 1);
      expect(found.changes[0]).toMatchObject({ client: 'watch', new: { etag: '"v2"' } });
      expect(origin.requestsTo('/from-file').length).toBeGreaterThanOrEqual(1);
      // `every` after a URL in the file: checked once at start, not again within the hour.
      expect(origin.requestsTo('/slow').length).toBeLessThanOrEqual(1);
    } finally {
      await cli.stop();
      await origin.close();
    }
    expect(cli.child.exitCode).toBe(0);
  }, 30_000);

  it('with --workers 2, one worker watches: a URL is asked about once per interval, not once per worker', async () => {
    const state = { version: 1 };
    const origin = await feedOrigin(state);
    const port = await freePort();
    const cli = startCli(['--port', String(port), '--workers', '2', '--store', redis.url, '--namespace', namespace, '--watch', `${origin.url}/fleet`, '--watch-every', '1s']);
    try {
      await cli.waitFor('listening on', 2, 20_000);
      await cli.waitFor('"msg":"watching"');
      await until(async () => origin.requestsTo('/fleet').length, (n) => n >= 3);
      await sleep(1000); // a second watcher would have started by now
      expect(cli.output().split('"msg":"watching"').length - 1).toBe(1);
      // Over 3 s, one watcher at 1 s ±10 % asks at most 4 times; two would ask about 6.
      const before = origin.requestsTo('/fleet').length;
      await sleep(3000);
      expect(origin.requestsTo('/fleet').length - before).toBeLessThanOrEqual(4);
      // Each check after the first is one conditional request with the stored tag.
      expect(origin.requestsTo('/fleet').slice(1).every((r) => r.headers['if-none-match'] === '"v1"')).toBe(true);
    } finally {
      await cli.stop();
      await origin.close();
    }
    expect(cli.child.exitCode).toBe(0);
  }, 40_000);

  it.each([
    [['--watch', 'not a url'], /^etag-proxy: --watch: expected an absolute http:\/\/ or https:\/\/ URL, got "not a url"\n$/],
    [['--watch', 'ftp://example.com/x'], /^etag-proxy: --watch: expected an absolute http:\/\/ or https:\/\/ URL, got "ftp:\/\/example.com\/x"\n$/],
    [['--watch', '@/nonexistent/urls.txt'], /^etag-proxy: --watch: cannot read \/nonexistent\/urls.txt: ENOENT\n$/],
    [['--watch', 'http://example.com/', '--watch-every', '100ms'], /^etag-proxy: --watch-every: expected a duration of at least 1s, got "100ms"\n$/],
    [['--watch', 'http://example.com/', '--watch-every', 'often'], /^etag-proxy: --watch-every: expected a duration such as 30s, 250ms or 7d, got "often"\n$/],
  ])('refuses %j with exit 2 and one line', async (args, message) => {
    const { code, stderr } = await runCli([...args, '--port', '0']);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('reads watch: as a list, or { every, urls, files }; files take comments and an interval per line; each URL once', () => {
    const urls = join(dir, 'list.txt');
    writeFileSync(urls, '# news\nhttp://example.com/news\nhttp://example.com/prices 1m   # its own interval\n');
    const objectForm = join(dir, 'object.yaml');
    writeFileSync(objectForm, `watch:\n  every: 2m\n  urls: [http://example.com/feed, { url: http://example.com/prices, every: 10s }]\n  files: [${urls}]\n`);
    expect(loadConfig({ config: objectForm })).toMatchObject({
      watchEveryMs: 120_000,
      watch: [{ url: 'http://example.com/feed' }, { url: 'http://example.com/prices', everyMs: 10_000 }, { url: 'http://example.com/news' }],
    });
    const listForm = join(dir, 'list.yaml');
    writeFileSync(listForm, `watch:\n  - http://example.com/a#fragment\n  - { file: ${urls}, every: 30s }\nwatchEvery: 1h\n`);
    expect(loadConfig({ config: listForm })).toMatchObject({
      watchEveryMs: 3_600_000,
      watch: [{ url: 'http://example.com/a' }, { url: 'http://example.com/news', everyMs: 30_000 }, { url: 'http://example.com/prices', everyMs: 60_000 }],
    });
    // Flags replace the file's list; --watch-every its interval.
    expect(loadConfig({ config: listForm, watch: ['http://example.com/b'], 'watch-every': '5s' })).toMatchObject({ watchEveryMs: 5000, watch: [{ url: 'http://example.com/b' }] });
  });

  it('names the file and line of a bad URL in a watch file, and the key of a bad watch: in the config file', async () => {
    const file = join(dir, 'bad.txt');
    writeFileSync(file, 'http://example.com/ok\nhttp//missing-colon\n');
    const fromFlag = await runCli(['--watch', `@${file}`, '--port', '0']);
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toBe(`etag-proxy: --watch (${file} line 2): expected an absolute http:// or https:// URL, got "http//missing-colon"\n`);
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'watch:\n  every: 1m\n  urls:\n    - http://example.com/a\n    - { url: http://example.com/b, every: soon }\n');
    const fromFile = await runCli(['--config', config, '--port', '0']);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toBe('etag-proxy: watch.urls[1].every: expected a duration such as 30s, 250ms or 7d, got "soon"\n');
  });
});

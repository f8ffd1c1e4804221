// `--store disk:PATH` from the CLI, on the wire: a stored entry outlives the process (stopped with
// SIGTERM or SIGKILL) and is a hit, or a revalidation with its stored ETag, after a restart; a
// crawl recorded with --record replays byte-identical with --offline after a restart; two workers
// on one directory are one cache (one origin fetch per URL, hits from both); and a CLI started
// without --store keeps its cache there, in the user's cache directory.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { tempCacheDir } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

let origin: Origin;
const BIG = randomBytes(300_000);
const dirs: string[] = [];
const version = 1;

beforeAll(async () => {
  origin = await startOrigin({
    '/page': (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', etag: '"p1"', 'content-type': 'text/plain' }).end('a page kept on disk'),
    '/big': (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', etag: '"b1"' }).end(BIG),
    '/stale': (req, res) => {
      if (req.headers['if-none-match'] === `"s${version}"`) return void res.writeHead(304, { etag: `"s${version}"`, 'cache-control': 'max-age=0' }).end();
      res.writeHead(200, { 'cache-control': 'max-age=0', etag: `"s${version}"` }).end(`stale body ${version}`);
    },
    '/crawl/bare': (_q, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>no freshness at all</p>'),
    '/crawl/binary': (_q, res) => void res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-cache' }).end(BIG),
    '/slow': (req, res) => void setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`slow ${req.url}`), 300),
    '*': (req, res) => void setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`body of ${req.url}`), 300),
  });
});
afterAll(async () => {
  await origin.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function cacheDir(): string {
  const dir = tempCacheDir();
  dirs.push(dir);
  return dir;
}

async function start(dir: string, extra: string[] = []): Promise<{ cli: RunningCli; url: string }> {
  const port = await freePort();
  const cli = startCli(['--port', String(port), '--store', `disk:${dir}`, ...extra]);
  // Generous: a loaded test machine starts Node slowly.
  await cli.waitFor('listening on', extra.includes('--workers') ? Number(extra[extra.indexOf('--workers') + 1]) : 1, 30_000);
  return { cli, url: `http://127.0.0.1:${port}` };
}

async function kill(cli: RunningCli, signal: NodeJS.Signals): Promise<void> {
  if (signal === 'SIGTERM') return cli.stop();
  const exited = new Promise((resolve) => cli.child.once('exit', resolve));
  cli.child.kill('SIGKILL');
  await exited;
}

const sha = (body: Buffer) => createHash('sha256').update(body).digest('hex');

describe('disk store across restarts', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)('serves what it stored before a %s from disk after the restart, byte for byte, without asking the origin', async (signal) => {
    const dir = cacheDir();
    const first = await start(dir);
    expect((await viaProxy(first.url, `${origin.url}/page`)).text).toBe('a page kept on disk');
    expect((await viaProxy(first.url, `${origin.url}/big`)).body.equals(BIG)).toBe(true);
    await kill(first.cli, signal);
    const before = origin.requests.length;
    const second = await start(dir);
    try {
      const page = await viaProxy(second.url, `${origin.url}/page`);
      expect(page.text).toBe('a page kept on disk');
      expect(page.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      const big = await viaProxy(second.url, `${origin.url}/big`);
      expect(sha(big.body)).toBe(sha(BIG));
      expect(big.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(origin.requests.length).toBe(before);
    } finally {
      await second.cli.stop();
    }
  }, 90_000);

  it('revalidates a stale entry stored before a SIGKILL with its stored ETag, and answers from disk on 304 (RFC 9111 §4.3.1)', async () => {
    const dir = cacheDir();
    const first = await start(dir);
    expect((await viaProxy(first.url, `${origin.url}/stale`)).text).toBe('stale body 1');
    await kill(first.cli, 'SIGKILL');
    const second = await start(dir);
    try {
      const seen = origin.requestsTo('/stale').length;
      const res = await viaProxy(second.url, `${origin.url}/stale`);
      expect(res.text).toBe('stale body 1');
      expect(res.headers['cache-status']).toContain('fwd-status=304');
      const revalidation = origin.requestsTo('/stale')[seen]!;
      expect(revalidation.headers['if-none-match']).toBe('"s1"');
    } finally {
      await second.cli.stop();
    }
  }, 90_000);

  it('replays a crawl recorded with --record byte-identical with --offline after a SIGKILL and a restart, the origin never asked', async () => {
    const dir = cacheDir();
    const recording = await start(dir, ['--record']);
    const recorded = new Map<string, Buffer>();
    for (const path of ['/crawl/bare', '/crawl/binary']) recorded.set(path, (await viaProxy(recording.url, `${origin.url}${path}`)).body);
    await kill(recording.cli, 'SIGKILL');
    const before = origin.requests.length;
    const replay = await start(dir, ['--offline']);
    try {
      for (const [path, body] of recorded) {
        const res = await viaProxy(replay.url, `${origin.url}${path}`);
        expect(res.status).toBe(200);
        expect(res.body.equals(body)).toBe(true);
      }
      expect(origin.requests.length).toBe(before);
      expect((await viaProxy(replay.url, `${origin.url}/crawl/never`)).status).toBe(504);
    } finally {
      await replay.cli.stop();
    }
  }, 90_000);
});

describe('disk store with --workers', () => {
  it('is one cache for the workers on one directory: one origin fetch per URL, hits answered by both workers', async () => {
    const dir = cacheDir();
    const { cli, url } = await start(dir, ['--workers', '2', '--access-log']);
    try {
      const paths = Array.from({ length: 6 }, (_, i) => `/shared-${i}-${randomBytes(3).toString('hex')}`);
      // Fresh connections, so the kernel spreads them over both workers; all at once, so the
      // fills collapse across processes.
      const agent = (): http.Agent => new http.Agent({ keepAlive: false });
      const all = await Promise.all(paths.flatMap((path) => Array.from({ length: 6 }, () => viaProxy(url, `${origin.url}${path}`, { agent: agent(), headers: { connection: 'close' } }))));
      expect(all.every((res) => res.status === 200)).toBe(true);
      for (const path of paths) expect(origin.requestsTo(path)).toHaveLength(1);
      // Then hits: the access log says which worker answered each.
      for (let i = 0; i < 20; i++) {
        const res = await viaProxy(url, `${origin.url}${paths[i % paths.length]}`, { agent: agent(), headers: { connection: 'close' } });
        expect(res.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      }
      const hitWorkers = new Set(
        cli
          .output()
          .split('\n')
          .filter((line) => line.includes(`"cache":"etag-proxy; hit`))
          .map((line) => (JSON.parse(line) as { worker?: number }).worker),
      );
      expect([...hitWorkers].sort()).toEqual([1, 2]);
      for (const path of paths) expect(origin.requestsTo(path)).toHaveLength(1);
    } finally {
      await cli.stop();
    }
  }, 90_000);
});

describe('the default store (no --store)', () => {
  /** The start-up line's JSON record. */
  const startLine = (output: string): Record<string, unknown> =>
    JSON.parse(output.split('\n').find((line) => line.includes('etag-proxy listening on'))!) as Record<string, unknown>;

  it('is the disk store in $XDG_CACHE_HOME/etag-proxy, named with its cap on the start-up line, and an entry stored before a restart is a hit after it', async () => {
    const cacheHome = cacheDir();
    const env = { XDG_CACHE_HOME: cacheHome };
    const path = `/default-${randomBytes(3).toString('hex')}`;
    const port = await freePort();
    const first = startCli(['--port', String(port)], env);
    try {
      await first.waitFor('listening on', 1, 30_000);
      expect(startLine(first.output())).toMatchObject({ store: `disk:${join(cacheHome, 'etag-proxy')}`, cacheSizeBytes: 256 * 2 ** 20 });
      const first200 = await viaProxy(`http://127.0.0.1:${port}`, `${origin.url}${path}`);
      expect(first200.headers['cache-status']).toContain('fwd=uri-miss');
    } finally {
      await first.stop();
    }
    expect(existsSync(join(cacheHome, 'etag-proxy', 'data.mdb'))).toBe(true);

    const second = startCli(['--port', String(port)], env);
    try {
      await second.waitFor('listening on', 1, 30_000);
      const res = await viaProxy(`http://127.0.0.1:${port}`, `${origin.url}${path}`);
      expect(res.text).toBe(`body of ${path}`);
      expect(res.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(origin.requestsTo(path)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  }, 90_000);

  it('--store memory keeps nothing on disk: the start-up line says memory, and the cache directory is never created', async () => {
    const cacheHome = cacheDir();
    const port = await freePort();
    const cli = startCli(['--port', String(port), '--store', 'memory'], { XDG_CACHE_HOME: cacheHome });
    try {
      await cli.waitFor('listening on', 1, 30_000);
      const line = startLine(cli.output());
      expect(line['store']).toBe('memory');
      expect(line).not.toHaveProperty('cacheSizeBytes');
      await viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/memory-${randomBytes(3).toString('hex')}`);
    } finally {
      await cli.stop();
    }
    expect(readdirSync(cacheHome)).toEqual([]);
  }, 60_000);
});

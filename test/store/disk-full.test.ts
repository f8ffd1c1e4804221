// The disk store on a disk that fills up: requests keep being served (stored ones as hits, new
// ones forwarded), one log line says writes stopped, and the process neither crashes nor hangs
// on shutdown. The full disk is a file-size limit on the proxy (RLIMIT_FSIZE via util-linux's
// `prlimit`): writes past it fail as on a full filesystem, with no mount or root needed.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { tempCacheDir } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

const BODY_BYTES = 400 * 1024;
const FILE_LIMIT_BYTES = 6_000_000; // room for about a dozen bodies
const URLS = 30;

const bodyOf = (n: number): Buffer => Buffer.alloc(BODY_BYTES, n + 1);

let origin: Origin;
let cli: RunningCli;
let port: number;
let dir: string;

beforeAll(async () => {
  if (spawnSync('prlimit', ['--version']).error) throw new Error('this test needs prlimit (Debian: apt-get install util-linux)');
  origin = await startOrigin({
    '*': (req, res) => {
      const n = Number(/\/page\/(\d+)/.exec(req.url ?? '')?.[1] ?? -1);
      res.writeHead(200, { 'cache-control': 'max-age=600', etag: `"p${n}"`, 'content-type': 'application/octet-stream' });
      res.end(bodyOf(n));
    },
  });
  dir = tempCacheDir();
  port = await freePort();
  cli = startCli(['--port', String(port), '--store', `disk:${dir}`, '--cache-size', '100MB'], {}, ['prlimit', `--fsize=${FILE_LIMIT_BYTES}`]);
  await cli.waitFor('listening on', 1, 30_000);
});
afterAll(async () => {
  await cli?.stop();
  await origin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function get(n: number): Promise<{ status: number; body: Buffer; cacheStatus: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `${origin.url}/page/${n}`, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), cacheStatus: String(res.headers['cache-status']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('disk store on a full disk', () => {
  it('keeps serving every request, hits what it stored, logs the refusal once, and stops cleanly', async () => {
    for (let n = 0; n < URLS; n++) {
      const got = await get(n);
      expect(got.status, `page ${n}`).toBe(200);
      expect(got.body.equals(bodyOf(n)), `page ${n} body`).toBe(true);
    }
    // The disk filled up part way: the first pages were stored, the last ones could not be.
    const first = await get(0);
    expect(first.status).toBe(200);
    expect(first.body.equals(bodyOf(0))).toBe(true);
    expect(first.cacheStatus).toMatch(/; hit/);
    expect(origin.requestsTo('/page/0')).toHaveLength(1);
    const last = await get(URLS - 1);
    expect(last.status).toBe(200);
    expect(last.body.equals(bodyOf(URLS - 1))).toBe(true);
    expect(origin.requestsTo(`/page/${URLS - 1}`)).toHaveLength(2);

    expect(cli.child.exitCode, 'the proxy is still running').toBeNull();
    expect(cli.output().split('disk store cannot write').length - 1).toBe(1);
    const stopping = Date.now();
    await cli.stop();
    expect(cli.child.exitCode).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(15_000);
  }, 60_000);
});

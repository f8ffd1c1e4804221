// The disk store when things go wrong: the proxy SIGKILLed again and again while it stores large
// bodies under load never serves a torn or wrong body, during the load or afterwards (each checked
// against the origin's digest).
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { tempCacheDir } from '../helpers/disk.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

const URLS = 24;

/** A body of 0.5–3.5 MB that only its number determines, so its digest is known without keeping it. */
function bodyOf(n: number): Buffer {
  const size = 512 * 1024 + ((n * 7919) % 3) * 1024 * 1024;
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`body ${n}`).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}
const digest = (body: Buffer): string => createHash('sha256').update(body).digest('hex');
const DIGESTS = Array.from({ length: URLS }, (_, n) => digest(bodyOf(n)));

let origin: Origin;
const dirs: string[] = [];
beforeAll(async () => {
  origin = await startOrigin({
    '*': (req, res) => {
      const n = Number(/\/big\/(\d+)/.exec(req.url ?? '')?.[1] ?? -1);
      if (!(n >= 0 && n < URLS)) return void res.writeHead(404).end();
      res.writeHead(200, { 'cache-control': 'max-age=600', etag: `"b${n}"`, 'content-type': 'application/octet-stream' });
      // Sent in pieces, so a kill finds bodies half-received and half-stored.
      const body = bodyOf(n);
      let at = 0;
      const next = () => {
        if (at >= body.length) return void res.end();
        res.write(body.subarray(at, (at += 256 * 1024)));
        setImmediate(next);
      };
      next();
    },
  });
});
afterAll(async () => {
  await origin.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** GET through the proxy; a cut connection is fine (the proxy was killed), a wrong body is not. */
function fetchBody(port: number, n: number): Promise<{ status: number; body: Buffer } | 'cut'> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: `${origin.url}/big/${n}`, headers: { host: origin.host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.complete ? { status: res.statusCode ?? 0, body: Buffer.concat(chunks) } : 'cut'));
      res.on('error', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
    req.setTimeout(15_000, () => req.destroy());
  });
}

describe('disk store: SIGKILL while storing large bodies under load', () => {
  it('never serves a torn or wrong body, during the load or after each restart (0 of every body checked)', async () => {
    const dir = tempCacheDir();
    dirs.push(dir);
    const wrong: string[] = [];
    let checked = 0;
    const check = (n: number, got: { status: number; body: Buffer } | 'cut') => {
      if (got === 'cut') return;
      checked++;
      if (got.status !== 200 || digest(got.body) !== DIGESTS[n]) wrong.push(`/big/${n}: ${got.status}, ${got.body.length} bytes`);
    };
    for (let round = 0; round < 4; round++) {
      const port = await freePort();
      const cli: RunningCli = startCli(['--port', String(port), '--store', `disk:${dir}`, '--cache-size', '40MiB', '--max-object-size', '8MiB']);
      await cli.waitFor('listening on', 1, 30_000);
      let stop = false;
      const clients = Array.from({ length: 6 }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          const n = (c * 5 + i * 7 + round * 3) % URLS;
          check(n, await fetchBody(port, n));
        }
      });
      // Killed once some bodies went through (so some were stored), while others are mid-way.
      const target = checked + 4;
      const deadline = Date.now() + 15_000;
      while (checked < target && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 50 + round * 60));
      const exited = new Promise((resolve) => cli.child.once('exit', resolve));
      cli.child.kill('SIGKILL');
      await exited;
      stop = true;
      await Promise.all(clients);
    }
    // After the last kill: every URL, from disk where it was stored whole.
    const port = await freePort();
    const cli = startCli(['--port', String(port), '--store', `disk:${dir}`, '--cache-size', '40MiB', '--max-object-size', '8MiB']);
    await cli.waitFor('listening on', 1, 30_000);
    try {
      const before = origin.requests.length;
      for (let n = 0; n < URLS; n++) check(n, await fetchBody(port, n));
      expect(origin.requests.length - before, 'some bodies came from disk').toBeLessThan(URLS);
    } finally {
      await cli.stop();
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(URLS);
  }, 120_000);
});

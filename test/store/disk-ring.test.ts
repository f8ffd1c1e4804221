// The disk store's body ring (body-ring.ts): bodies live in one file written round and round;
// records in data.mdb name them by position. What only the ring can get wrong: a record whose
// bytes were handed out again must read as a miss (never as another body's bytes), the frontier
// must never go back, and a directory written for another ring (another --cache-size, the format
// before the ring) starts empty with one log line.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { createDiskBackend } from '../../src/store/disk/backend.js';
import { BodyRing } from '../../src/store/disk/body-ring.js';
import { ringBytesFor } from '../../src/store/disk/entry-store.js';
import { STATE_KEY } from '../../src/store/disk/eviction.js';
import { openDiskDatabases } from '../../src/store/disk/open.js';
import type { Backend, EntryAddress } from '../../src/store/types.js';
import { freshUrl, sampleEntry } from '../contracts/entry-store.contract.js';
import { tempCacheDir } from '../helpers/disk.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = tempCacheDir('etag-proxy-ring-');
  dirs.push(dir);
  return dir;
}

const MiB = 1024 * 1024;
const plain = (url: string): EntryAddress => ({ url, vary: null, variant: null });
const noVariant = (): string => 'none';

function open(dir: string, cacheSizeBytes: number, lines: string[] = []): Backend {
  return createDiskBackend({ dir, cacheSizeBytes, storeTimeoutMs: 5000, logger: createLogger('info', (line) => void lines.push(line)), now: Date.now });
}

describe('disk store body ring', () => {
  it('answers a miss, not the bytes now there, for a record whose place in the ring was handed out again', async () => {
    const dir = tempDir();
    const cap = 4 * MiB;
    const writer = open(dir, cap);
    const url = freshUrl();
    await writer.entries.put(plain(url), sampleEntry(Buffer.alloc(100_000, 1)), 60_000);
    await writer.close();
    // As a writer in another process does between moving the frontier and committing: the bytes
    // under the record may be another body's now, and the record is still in data.mdb.
    const ring = new BodyRing(dir, ringBytesFor(cap));
    ring.setFrontier(ring.frontier() + ring.length + 1);
    ring.close();
    const reader = open(dir, cap);
    expect(await reader.entries.lookup(url, noVariant)).toBeUndefined();
    await reader.close();
  });

  it('writes round the ring many times over and serves every entry it still holds with its own bytes', async () => {
    const dir = tempDir();
    const cap = 2 * MiB;
    const backend = open(dir, cap);
    const bodyOf = (k: number): Buffer => Buffer.alloc(20_000 + (k % 7) * 1000, k % 251);
    const urls: string[] = [];
    for (let k = 0; k < 400; k++) {
      const url = `http://ring.test/${k}`;
      urls.push(url);
      await backend.entries.put(plain(url), sampleEntry(bodyOf(k)), 60_000);
    }
    let held = 0;
    for (const [k, url] of urls.entries()) {
      const found = await backend.entries.lookup(url, noVariant);
      if (!found) continue;
      held++;
      expect(found.entry.body.equals(bodyOf(k)), `body of ${url}`).toBe(true);
    }
    // About the ring's worth of the newest entries (20–26 KB each in 1.76 MiB), the oldest gone.
    expect(held).toBeGreaterThan(40);
    expect(held).toBeLessThan(100);
    expect(await backend.entries.lookup(urls[0]!, noVariant)).toBeUndefined();
    expect(await backend.entries.lookup(urls[399]!, noVariant)).toBeDefined();
    expect(backend.entries.usage!().bytes).toBeLessThanOrEqual(cap);
    await backend.close();
  });

  it('starts empty, with one log line, when the directory was written for another --cache-size', async () => {
    const dir = tempDir();
    const url = freshUrl();
    const first = open(dir, 4 * MiB);
    await first.entries.put(plain(url), sampleEntry(Buffer.from('sized for 4 MiB')), 60_000);
    await first.close();
    const lines: string[] = [];
    const second = open(dir, 8 * MiB, lines);
    expect(await second.entries.lookup(url, noVariant)).toBeUndefined();
    expect(second.entries.usage!()).toMatchObject({ entries: 0, bytes: 0 });
    const dropped = lines.filter((line) => line.includes('disk store starts empty'));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toContain('another --cache-size');
    await second.entries.put(plain(url), sampleEntry(Buffer.from('sized for 8 MiB')), 60_000);
    expect((await second.entries.lookup(url, noVariant))?.entry.body.toString()).toBe('sized for 8 MiB');
    await second.close();
  });

  it('starts empty when the directory holds the format before the ring (bodies inside data.mdb)', async () => {
    const dir = tempDir();
    const db = openDiskDatabases(dir);
    await db.records.put('http://old.test/', { k: 'e', gen: 1, size: 10, exp: Date.now() + 60_000, body: 'x', chunks: 1, len: 2, crc: 0 });
    await db.bodies.put(['x', 0], Buffer.from('hi'));
    await db.state.put(STATE_KEY, { bytes: 10, entries: 1, gen: 1, written: 10 });
    await db.root.close();
    const lines: string[] = [];
    const backend = open(dir, 4 * MiB, lines);
    expect(await backend.entries.lookup('http://old.test/', noVariant)).toBeUndefined();
    expect(lines.join('')).toContain('stored by an older version');
    await backend.close();
    const after = openDiskDatabases(dir);
    expect([...after.bodies.getKeys({})]).toHaveLength(0);
    expect([...after.records.getKeys({})]).toHaveLength(0);
    await after.root.close();
  });
});

describe('disk store body ring shared by processes', () => {
  it('serves only whole, right bodies while three processes lap a small ring, writing and reading the same URLs', async () => {
    const dir = tempDir();
    const run = (): Promise<{ reads: number; hits: number; bad: number }> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['test/fixtures/ring-writer.mjs', dir, '4'], { timeout: 30_000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr}`));
          else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as { reads: number; hits: number; bad: number });
        });
      });
    const results = await Promise.all([run(), run(), run()]);
    for (const result of results) {
      expect(result.bad, JSON.stringify(result)).toBe(0);
      expect(result.hits).toBeGreaterThan(100);
    }
  }, 40_000);
});

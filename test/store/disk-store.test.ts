// The disk backend against the store contracts (the suites memory and Redis pass), then what only
// a disk store promises: entries survive reopening, a damaged body is a miss, --cache-size bounds
// the bytes with LRU-like eviction that survives a reopen.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { createDiskBackend } from '../../src/store/disk/backend.js';
import { BODY_FILE } from '../../src/store/disk/body-ring.js';
import type { Backend, EntryAddress } from '../../src/store/types.js';
import { coordinationContract, sharedStoreSubject, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, entryStoreVaryTtlContract, freshUrl, sampleEntry } from '../contracts/entry-store.contract.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-disk-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const logger = createLogger('silent');
function open(dir: string, cacheSizeBytes = 64 * 1024 * 1024): Backend {
  return createDiskBackend({ dir, cacheSizeBytes, storeTimeoutMs: 5000, logger, now: Date.now });
}

entryStoreContract('disk', async () => {
  const backend = open(tempDir());
  return { store: backend.entries, cleanup: () => backend.close() };
});

entryStoreVaryTtlContract('disk', async () => {
  const backend = open(tempDir());
  return { store: backend.entries, cleanup: () => backend.close() };
});

// Two backends on one directory are two workers on one host.
{
  const shared = tempDir();
  coordinationContract('disk', sharedStoreSubject(async (store) => createDiskBackend<ContractRules>({ dir: join(shared, store), cacheSizeBytes: 1024 * 1024, storeTimeoutMs: 5000, logger, now: Date.now })));
}

const plain = (url: string): EntryAddress => ({ url, vary: null, variant: null });
const noVariant = (): string => 'none';

describe('disk store: what outlives the process', () => {
  it('finds an entry and its variants after the store is closed and opened again', async () => {
    const dir = tempDir();
    const url = freshUrl();
    const varying = freshUrl();
    const first = open(dir);
    await first.entries.put(plain(url), sampleEntry(Buffer.from('kept across restarts')), 60_000);
    await first.entries.put({ url: varying, vary: ['accept'], variant: 'json' }, sampleEntry(Buffer.from('{}')), 60_000);
    await first.close();
    const second = open(dir);
    expect((await second.entries.lookup(url, noVariant))?.entry.body.toString()).toBe('kept across restarts');
    expect((await second.entries.lookup(varying, () => 'json'))?.entry.body.toString()).toBe('{}');
    expect(second.entries.usage?.()).toMatchObject({ store: 'disk', entries: 3 });
    await second.close();
  });

  it('opens a directory whose name has a dot ("cache.v2"), which lmdb-js would take for a file', async () => {
    const dir = join(tempDir(), 'cache.v2');
    const url = freshUrl();
    const first = open(dir);
    await first.entries.put(plain(url), sampleEntry(Buffer.from('dotted')), 60_000);
    await first.close();
    const second = open(dir);
    expect((await second.entries.lookup(url, noVariant))?.entry.body.toString()).toBe('dotted');
    await second.close();
  });

  it('holds no more than --cache-size, evicting what was used least recently, and keeps that order across a reopen', async () => {
    const dir = tempDir();
    const cap = 1024 * 1024;
    let backend = open(dir, cap);
    const body = Buffer.alloc(30 * 1024, 7);
    const hot = freshUrl();
    await backend.entries.put(plain(hot), sampleEntry(body), 60_000);
    const urls: string[] = [];
    for (let i = 0; i < 80; i++) {
      const url = freshUrl();
      urls.push(url);
      await backend.entries.put(plain(url), sampleEntry(body), 60_000);
      // Used all along: it must survive every eviction.
      expect(await backend.entries.lookup(hot, noVariant)).toBeDefined();
      if (i === 40) {
        await backend.close();
        backend = open(dir, cap);
      }
    }
    const usage = backend.entries.usage!();
    expect(usage.bytes).toBeLessThanOrEqual(cap);
    expect(await backend.entries.lookup(hot, noVariant)).toBeDefined();
    expect(await backend.entries.lookup(urls[0]!, noVariant)).toBeUndefined();
    expect(await backend.entries.lookup(urls[79]!, noVariant)).toBeDefined();
    await backend.close();
  });
});

describe('disk store: keys from outside', () => {
  it('stores and finds a URL key and a variant id longer than LMDB keys may be, and tells near-identical ones apart', async () => {
    const backend = open(tempDir());
    const long = `http://long.example/${'x'.repeat(8000)}`;
    await backend.entries.put(plain(`${long}a`), sampleEntry(Buffer.from('a')), 60_000);
    await backend.entries.put({ url: `${long}b`, vary: ['cookie'], variant: `cookie:${'c'.repeat(5000)}` }, sampleEntry(Buffer.from('b')), 60_000);
    expect((await backend.entries.lookup(`${long}a`, noVariant))?.entry.body.toString()).toBe('a');
    expect(await backend.entries.lookup(`${long}c`, noVariant)).toBeUndefined();
    expect((await backend.entries.lookup(`${long}b`, () => `cookie:${'c'.repeat(5000)}`))?.entry.body.toString()).toBe('b');
    const page = await backend.entries.scanPage!('0', 100);
    expect(page.entries.map((e) => e.url).sort()).toEqual([`${long}a`, `${long}b`]);
    await backend.entries.invalidate(`${long}b`);
    expect(await backend.entries.lookup(`${long}b`, () => `cookie:${'c'.repeat(5000)}`)).toBeUndefined();
    await backend.close();
  });
});

describe('disk store: a body is whole or absent', () => {
  // The store's only body sits at the ring's start, after the file's 4 KiB header (body-ring.ts).
  function damage(dir: string, change: (ring: Buffer) => Buffer): void {
    const file = join(dir, BODY_FILE);
    writeFileSync(file, Buffer.concat([readFileSync(file).subarray(0, 4096), change(readFileSync(file).subarray(4096))]));
  }

  it('answers a miss, and forgets the entry, when a stored body no longer matches its digest', async () => {
    const dir = tempDir();
    const url = freshUrl();
    const first = open(dir);
    await first.entries.put(plain(url), sampleEntry(Buffer.from('the original bytes')), 60_000);
    await first.close();
    damage(dir, (body) => Buffer.concat([Buffer.from([body[0]! ^ 1]), body.subarray(1)]));
    const second = open(dir);
    expect(await second.entries.lookup(url, noVariant)).toBeUndefined();
    await second.close();
  });

  it('answers a miss when a stored body is shorter than its recorded length', async () => {
    const dir = tempDir();
    const url = freshUrl();
    const first = open(dir);
    await first.entries.put(plain(url), sampleEntry(Buffer.alloc(600 * 1024, 1)), 60_000);
    await first.close();
    damage(dir, (body) => body.subarray(0, body.length - 1));
    const second = open(dir);
    expect(await second.entries.lookup(url, noVariant)).toBeUndefined();
    await second.close();
  });
});

describe('disk store: a hit kept for the rest of the event-loop turn (turn-memo.ts)', () => {
  it('stops answering once the entry expires, even within the same turn', async () => {
    let now = 1_000_000;
    const backend = createDiskBackend({ dir: tempDir(), cacheSizeBytes: 64 * 1024 * 1024, storeTimeoutMs: 5000, logger, now: () => now });
    const url = freshUrl();
    await backend.entries.put(plain(url), sampleEntry(Buffer.from('short-lived')), 1000);
    // Synchronous lookups (no await between them): one turn.
    const first = backend.entries.lookup(url, noVariant) as unknown;
    now += 1001;
    const second = backend.entries.lookup(url, noVariant) as unknown;
    expect((first as { entry: { body: Buffer } } | undefined)?.entry.body.toString()).toBe('short-lived');
    expect(second).toBeUndefined();
    await backend.close();
  });

  it('answers with what this process wrote, once its write is done, in the same turn as the hit before it', async () => {
    const backend = open(tempDir());
    const url = freshUrl();
    await backend.entries.put(plain(url), sampleEntry(Buffer.from('old')), 60_000);
    expect((await backend.entries.lookup(url, noVariant))?.entry.body.toString()).toBe('old');
    await backend.entries.put(plain(url), sampleEntry(Buffer.from('new')), 60_000);
    expect((await backend.entries.lookup(url, noVariant))?.entry.body.toString()).toBe('new');
    await backend.entries.invalidate(url);
    expect(await backend.entries.lookup(url, noVariant)).toBeUndefined();
    await backend.close();
  });
});

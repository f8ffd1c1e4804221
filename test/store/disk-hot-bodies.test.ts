import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodedRecords } from '../../src/store/disk/decoded-records.js';
import { HotBodies } from '../../src/store/disk/hot-bodies.js';
import { openDiskDatabases } from '../../src/store/disk/open.js';

describe('HotBodies (the disk store’s per-process cache of recently read bodies)', () => {
  it('keeps bodies up to its byte bound, least recently used out first', () => {
    const hot = new HotBodies(300, 200);
    hot.add(1, Buffer.alloc(100, 1));
    hot.add(2, Buffer.alloc(100, 2));
    hot.add(3, Buffer.alloc(100, 3));
    expect(hot.get(1)?.[0]).toBe(1); // a is now the most recent
    hot.add(4, Buffer.alloc(100, 4)); // b goes
    expect(hot.get(2)).toBeUndefined();
    expect([1, 3, 4].map((id) => hot.get(id)?.[0])).toEqual([1, 3, 4]);
    expect(hot.size).toEqual({ entries: 3, bytes: 300 });
  });

  it('does not keep a body larger than its per-body bound, and forgets a dropped one', () => {
    const hot = new HotBodies(1000, 200);
    hot.add(5, Buffer.alloc(201));
    expect(hot.get(5)).toBeUndefined();
    hot.add(6, Buffer.alloc(50));
    hot.delete(6);
    expect(hot.get(6)).toBeUndefined();
    expect(hot.size).toEqual({ entries: 0, bytes: 0 });
  });
});

describe('DecodedRecords (decoded disk-store records kept by their bytes)', () => {
  it('returns the object decoded before while the stored bytes are the same, and a new one when they change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'decoded-'));
    const db = openDiskDatabases(dir);
    try {
      const decoded = new DecodedRecords(db.records);
      await db.records.put('a', { k: 'e', n: 1 });
      await db.records.put('b', { k: 'e', big: 'y'.repeat(100_000) });
      const first = decoded.get('a');
      expect(first).toEqual({ k: 'e', n: 1 });
      expect((decoded.get('b') as { big: string }).big.length).toBe(100_000); // a read in between
      expect(decoded.get('a')).toBe(first);
      await db.records.put('a', { k: 'e', n: 2 }); // as another process would write it
      expect(decoded.get('a')).toEqual({ k: 'e', n: 2 });
      expect(decoded.get('missing')).toBeUndefined();
    } finally {
      await db.root.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The disk store's footprint: --cache-size bounds data.mdb itself, not only the bytes of the live
// records, when a crawl writes several times the cap through it (bodies of 4–64 KB evicting one
// another leave LMDB's free pages fragmented).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bodyBytesOnDisk } from '../../src/store/disk/record.js';
import { sampleEntry } from '../contracts/entry-store.contract.js';
import { diskBackendForTests, tempCacheDir } from '../helpers/disk.js';

describe('disk store footprint', () => {
  it('counts a body by the whole pages it takes', () => {
    expect(bodyBytesOnDisk(1000)).toBe(1000); // kept inside a leaf page
    expect(bodyBytesOnDisk(4096)).toBe(8192); // 4,096 bytes and a page header: two pages
    expect(bodyBytesOnDisk(40_000)).toBe(40_960);
    expect(bodyBytesOnDisk(256 * 1024 + 100)).toBe(bodyBytesOnDisk(256 * 1024) + 100);
  });

  it('keeps data.mdb within the cap after three times the cap went through it', async () => {
    const cap = 16 * 1024 * 1024;
    const dir = tempCacheDir();
    const backend = diskBackendForTests({ cacheSizeBytes: cap, dir });
    try {
      let written = 0;
      const next = { k: 0 };
      const worker = async (): Promise<void> => {
        while (written < 3 * cap) {
          const k = next.k++;
          const length = 4096 + ((Math.imul(k, 2654435761) >>> 0) % 61_441);
          written += length;
          await backend.entries.put({ url: `http://crawl.test/${k}`, vary: null, variant: null }, sampleEntry(Buffer.alloc(length, k)), 3_600_000);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      expect(backend.entries.usage!().bytes).toBeLessThanOrEqual(cap);
    } finally {
      await backend.close();
    }
    const fileBytes = statSync(join(dir, 'data.mdb')).size;
    expect(fileBytes, `data.mdb is ${fileBytes} bytes for a cap of ${cap}`).toBeLessThanOrEqual(cap * 1.03);
  }, 60_000);
});

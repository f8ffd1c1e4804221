// The disk store's footprint: --cache-size bounds the files themselves (data.mdb and the body
// ring), not only the bytes of the live records, when a crawl writes several times the cap
// through it.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BODY_FILE } from '../../src/store/disk/body-ring.js';
import { sampleEntry } from '../contracts/entry-store.contract.js';
import { diskBackendForTests, tempCacheDir } from '../helpers/disk.js';

describe('disk store footprint', () => {
  it('keeps data.mdb and the body ring within the cap after three times the cap went through it', async () => {
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
    const fileBytes = statSync(join(dir, 'data.mdb')).size + statSync(join(dir, BODY_FILE)).size;
    expect(fileBytes, `data.mdb and the ring are ${fileBytes} bytes for a cap of ${cap}`).toBeLessThanOrEqual(cap * 1.03);
  }, 60_000);
});

// A disk store in a temporary directory of its own, removed when the backend closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/observe/log.js';
import { createDiskBackend } from '../../src/store/disk/backend.js';
import type { Backend } from '../../src/store/types.js';

export function tempCacheDir(prefix = 'etag-proxy-disk-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function diskBackendForTests<Rules>(options: { cacheSizeBytes?: number; now?: () => number; dir?: string } = {}): Backend<Rules> {
  const dir = options.dir ?? tempCacheDir();
  const backend = createDiskBackend<Rules>({ dir, cacheSizeBytes: options.cacheSizeBytes ?? 1 << 24, storeTimeoutMs: 5000, logger: silentLogger, now: options.now ?? Date.now });
  const close = backend.close.bind(backend);
  return Object.assign(backend, {
    close: async () => {
      await close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  });
}

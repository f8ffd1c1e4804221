// A disk-store directory filled to a given size quickly, for the start-up measurement of issue 20
// ("a 1 GiB cache must not delay the first answer by more than a second"): entries of 1 MiB are
// written through the disk store's own API (the same records and transactions as a proxy
// writes), many at once so LMDB commits them in batches, not one fsync per entry. The entries
// answer URLs no bench request asks for; run.ts then stores the URL it times through a proxy.
import { randomBytes } from 'node:crypto';
import { STORED_POLICY_VERSION } from '../src/cache/stored-policy.js';
import { ENTRY_META_VERSION, type EntryMeta } from '../src/store/types.js';
import { createDiskBackend } from '../src/store/disk/backend.js';
import { createLogger } from '../src/observe/log.js';

const BODY_BYTES = 2 ** 20;
const IN_FLIGHT = 32;

/** Fill `dir` (a disk store with cap `capBytes`) with about `targetBytes` (below the cap); resolves with what it holds. */
export async function fillDiskCache(dir: string, targetBytes: number, capBytes: number): Promise<{ entries: number; bytes: number }> {
  const backend = createDiskBackend({ dir, cacheSizeBytes: capBytes, storeTimeoutMs: 60_000, logger: createLogger('warn'), now: Date.now });
  const usage = () => backend.entries.usage!();
  // Bodies differ (so nothing could share pages), cheaply: one random block, a counter in front.
  const block = randomBytes(BODY_BYTES);
  let next = 0;
  const putOne = async (): Promise<void> => {
    const k = next++;
    const body = Buffer.from(block);
    body.writeUInt32BE(k, 0);
    const meta: EntryMeta = {
      v: ENTRY_META_VERSION,
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=86400', etag: `"fill-${k}"` },
      policy: { v: STORED_POLICY_VERSION, receivedAt: Date.now() },
      etag: `"fill-${k}"`,
      storedAt: Date.now(),
      bodyLength: body.length,
      url: `http://bench.invalid/fill/${k}`,
    };
    await backend.entries.put({ url: `bench-fill-${k}`, vary: null, variant: null }, { meta, body }, 86_400_000);
  };
  try {
    // A count, not "until usage reaches the target": past the cap, eviction would keep it below.
    const count = Math.floor(targetBytes / (BODY_BYTES + 4096));
    const worker = async (): Promise<void> => {
      while (next < count) await putOne();
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const { entries, bytes } = usage();
    return { entries, bytes };
  } finally {
    await backend.close();
  }
}

// The fault table (bench/faults/faults.ts, also `npm run faults`) in npm test, with a short load:
// origin faults mid-response, clients that stop reading, one client holding idle tunnels or
// connections, pathological patterns through the admin API under load, Redis SIGKILL + restart
// and a worker SIGKILL under load, and every change-stream place taken while hits are served.
// Each row passes only if every request ended in a correct response or a clean error and nothing
// cut short was stored (each row fetches again and checks every byte); the subscriber row, if
// hits stayed fast and idle streams cost no CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultOrigin, type FaultOrigin } from '../../bench/faults/env.js';
import { runFaultTable, type FaultResult } from '../../bench/faults/faults.js';
import { PENDING_ON_OTHER_BRANCHES } from './pending.js';

const ROWS = ['origin-reset-mid-body', 'origin-hang-after-headers', 'origin-short-body', 'origin-chunked-cut', 'slow-reader', 'idle-tunnel', 'connection-share', 'pattern', 'redis-sigkill-restart', 'worker-sigkill', 'subscriber-flood'];

let origin: FaultOrigin;
let results: Map<string, FaultResult>;

beforeAll(async () => {
  origin = await startFaultOrigin();
  results = new Map((await runFaultTable(origin, { loadSeconds: 3, clients: 6 })).map((r) => [r.id, r]));
}, 150_000);
afterAll(async () => {
  await origin?.close();
});

describe('faults: every request ends in a correct response or a clean error, and nothing truncated is stored', () => {
  it('runs every row of the table', () => {
    expect([...results.keys()]).toEqual(ROWS);
  });

  it.each(ROWS)('%s', (id) => {
    const result = results.get(id)!;
    if (PENDING_ON_OTHER_BRANCHES.includes(id)) {
      expect(result.ok, `${id} passes now: remove it from PENDING_ON_OTHER_BRANCHES`).toBe(false);
      return;
    }
    expect(result.ok, `${result.what}: ${result.detail}`).toBe(true);
  });
});

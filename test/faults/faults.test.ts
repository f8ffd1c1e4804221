// The fault table (bench/faults/faults.ts, also `npm run faults`) in npm test, with a short load:
// origin faults mid-response, one client holding idle tunnels or connections, Redis SIGKILL +
// restart and a worker SIGKILL under load. Each row
// passes only if every request ended in a correct response or a clean error and nothing cut short
// was stored (each row fetches again and checks every byte).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultOrigin, type FaultOrigin } from '../../bench/faults/env.js';
import { runFaultTable, type FaultResult } from '../../bench/faults/faults.js';
import { PENDING_ON_OTHER_BRANCHES } from './pending.js';

const ROWS = ['origin-reset-mid-body', 'origin-hang-after-headers', 'origin-short-body', 'origin-chunked-cut', 'idle-tunnel', 'connection-share', 'redis-sigkill-restart', 'worker-sigkill'];

let origin: FaultOrigin;
let results: Map<string, FaultResult>;

beforeAll(async () => {
  origin = await startFaultOrigin();
  results = new Map((await runFaultTable(origin, { loadSeconds: 3, clients: 6 })).map((r) => [r.id, r]));
}, 90_000);
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

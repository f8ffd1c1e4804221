// Fill locks on the disk store: taken in the process, and in the directory's volatile/ too only
// while another process has the directory open (other-processes.ts). Two coordinations on one
// volatile/ with their own in-process tables stand for two processes here.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskCoordination } from '../../src/store/disk/coordination.js';
import { openVolatileDatabases } from '../../src/store/disk/open.js';
import { otherPids } from '../../src/store/disk/other-processes.js';
import { tempCacheDir } from '../helpers/disk.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function twoProcesses(othersPresent: boolean): { first: DiskCoordination; second: DiskCoordination; close: () => Promise<void> } {
  const dir = tempCacheDir('etag-proxy-locks-');
  dirs.push(dir);
  const volatile = openVolatileDatabases(dir);
  const others = { any: () => othersPresent };
  // Another directory name for each: their in-process tables are apart, as in two processes.
  return {
    first: new DiskCoordination(volatile, Date.now, others, `${dir}/a`),
    second: new DiskCoordination(volatile, Date.now, others, `${dir}/b`),
    close: () => volatile.root.close(),
  };
}

describe('disk store fill locks', () => {
  it('with another process on the directory: one holder across both, and the key is free once released', async () => {
    const { first, second, close } = twoProcesses(true);
    const lock = await first.acquireFill('http://a.test/', 10_000);
    expect(lock).not.toBeNull();
    expect(await second.acquireFill('http://a.test/', 10_000)).toBeNull();
    expect(await second.isFilling('http://a.test/')).toBe(true);
    await lock!.release();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the release commits in the background
    const next = await second.acquireFill('http://a.test/', 10_000);
    expect(next).not.toBeNull();
    await next!.release();
    await close();
  });

  it('alone on the directory: the lock is taken in the process only (no write), and still one holder in it', async () => {
    const { first, second, close } = twoProcesses(false);
    const lock = first.acquireFill('http://b.test/', 10_000);
    expect(lock).not.toBeNull();
    expect(lock).not.toBeInstanceOf(Promise); // answered at once: no transaction
    expect(first.acquireFill('http://b.test/', 10_000)).toBeNull();
    // The other table does not see it: nothing went to the file.
    expect(await second.acquireFill('http://b.test/', 10_000)).not.toBeNull();
    await (lock as { release(): Promise<void> | void }).release();
    await close();
  });

  it('reads the other pids from lmdb’s reader list', () => {
    const list = `\t\tpid\t\t thread\t\t txnid\n     ${process.pid} 7ff3c0a76c80 0\n     17957 7f4de3420c80 -\n`;
    expect([...otherPids(list)]).toEqual([17957]);
    expect(otherPids(`\t\tpid\t\t thread\t\t txnid\n     ${process.pid} 7ff3c0a76c80 -\n`).size).toBe(0);
  });
});

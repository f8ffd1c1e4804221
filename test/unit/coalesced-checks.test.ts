// Unchanged revalidations are gathered per process: N checks of a URL are one store write,
// a read through the same process sees them at once, and close() (flush) loses none.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBackend, defaultConfig } from '../../src/index.js';
import { createLogger } from '../../src/observe/log.js';
import { coalesceChecks } from '../../src/store/coalesced-checks.js';
import { MemoryChangeLog } from '../../src/store/memory/change-log.js';

describe('coalesced checked-unchanged counts', () => {
  afterEach(() => vi.useRealTimers());

  it('writes many checks of one URL as one store call, with their count and the latest time', async () => {
    vi.useFakeTimers();
    const store = new MemoryChangeLog();
    const write = vi.spyOn(store, 'checkedUnchanged');
    const changes = coalesceChecks(store, 1000);
    for (let i = 1; i <= 50; i++) await changes.checkedUnchanged('u1', 1000 + i);
    await changes.checkedUnchanged('u2', 5000);
    expect(write).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(write).toHaveBeenCalledTimes(2);
    expect(write).toHaveBeenCalledWith('u1', 1050, 50);
    expect(await store.checks('u1')).toEqual({ lastChecked: 1050, unchanged: 50 });
    expect(await store.checks('u2')).toEqual({ lastChecked: 5000, unchanged: 1 });
  });

  it('createBackend hands out a plain backend object whose changes go through the coalescer', async () => {
    const backend = await createBackend(defaultConfig(), Date.now, createLogger('silent'));
    expect(Object.getPrototypeOf(backend)).toBe(Object.prototype);
    expect(Object.keys(backend)).toEqual(expect.arrayContaining(['kind', 'entries', 'coordination', 'ledger', 'rules', 'changes', 'close']));
    await backend.changes!.checkedUnchanged('u1', 10);
    await backend.changes!.checkedUnchanged('u1', 20);
    expect(await backend.changes!.checks('u1')).toEqual({ lastChecked: 20, unchanged: 2 });
    await backend.close();
  });

  it('a read through it sees its pending counts at once', async () => {
    const changes = coalesceChecks(new MemoryChangeLog(), 60_000);
    await changes.checkedUnchanged('u1', 10);
    await changes.checkedUnchanged('u1', 20);
    expect(await changes.checks('u1')).toEqual({ lastChecked: 20, unchanged: 2 });
    expect(await changes.checks('u1')).toEqual({ lastChecked: 20, unchanged: 2 });
    await changes.flush();
  });

  it('flush writes everything pending (what close does)', async () => {
    const store = new MemoryChangeLog();
    const changes = coalesceChecks(store, 60_000);
    await changes.checkedUnchanged('u1', 10);
    await changes.checkedUnchanged('u2', 20);
    await changes.flush();
    expect(await store.checks('u1')).toEqual({ lastChecked: 10, unchanged: 1 });
    expect(await store.checks('u2')).toEqual({ lastChecked: 20, unchanged: 1 });
  });
});

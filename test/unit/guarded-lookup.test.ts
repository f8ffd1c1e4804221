// store/guarded.ts on the lookup path: a store that answers synchronously (memory map, disk)
// is answered synchronously through the guard, with no deadline timer; one that returns a
// promise still gets the deadline; a failure either way is StoreUnavailable and opens the breaker.
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/errors.js';
import { silentLogger } from '../../src/observe/log.js';
import { guardBackend } from '../../src/store/guarded.js';
import { STORED_POLICY_VERSION } from '../../src/cache/stored-policy.js';
import { ENTRY_META_VERSION, type Backend, type EntryStore, type Found } from '../../src/store/types.js';
import { diskBackendForTests } from '../helpers/disk.js';

const FOUND: Found = {
  entry: { meta: { v: ENTRY_META_VERSION, status: 200, headers: {}, policy: { v: STORED_POLICY_VERSION, receivedAt: 0 }, storedAt: 0, bodyLength: 2 }, body: Buffer.from('ok') },
  address: { url: 'u', vary: null, variant: null },
};

/** A backend whose only working part is `lookup`: the guard's lookup path is all this file tests. */
function backendWith(lookup: EntryStore['lookup']): Backend {
  const unused = () => Promise.reject(new Error('not used here'));
  return {
    kind: 'disk',
    entries: { lookup, put: unused, refresh: unused, invalidate: unused, close: async () => undefined },
    coordination: { acquireFill: unused, isFilling: unused },
    ledger: { recordServed: unused, wasServed: unused },
    rules: { load: unused, save: unused, onChange: () => () => undefined, close: async () => undefined },
    close: async () => undefined,
  };
}

function observed(backend: Backend): Array<[string, boolean]> {
  const calls: Array<[string, boolean]> = [];
  backend.instrument!({ call: (op, _seconds, ok) => calls.push([op, ok]), breaker: () => undefined });
  return calls;
}

describe('guarded lookup', () => {
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });

  it('hands a synchronous answer back synchronously, and still reports the call', () => {
    const guarded = guardBackend(backendWith(() => FOUND), { timeoutMs: 50, logger: silentLogger, name: 'test' });
    const calls = observed(guarded);
    const answer = guarded.entries.lookup('u', () => '');
    expect(answer).not.toBeInstanceOf(Promise);
    expect(answer).toBe(FOUND);
    expect(calls).toEqual([['lookup', true]]);
  });

  it('a disk-store hit through the guard is synchronous (the hit path awaits nothing)', async () => {
    const disk = diskBackendForTests();
    closing.push(() => disk.close());
    const address = { url: 'http://example.test/a', vary: null, variant: null };
    await disk.entries.put(address, { meta: { ...FOUND.entry.meta, storedAt: Date.now() }, body: Buffer.from('ok') }, 60_000);
    const answer = disk.entries.lookup(address.url, () => '');
    expect(answer).not.toBeInstanceOf(Promise);
    expect((answer as Found | undefined)?.entry.body.toString()).toBe('ok');
  });

  it('gives a promise the deadline: a lookup that never answers is StoreUnavailable after --store-timeout', async () => {
    const guarded = guardBackend(backendWith(() => new Promise<undefined>(() => undefined)), { timeoutMs: 30, logger: silentLogger, name: 'test' });
    await expect(guarded.entries.lookup('u', () => '')).rejects.toThrow(/test store lookup timed out after 30 ms/);
  });

  it('turns a synchronous throw into a rejected StoreUnavailable and opens the breaker (no further call reaches the store)', async () => {
    let calls = 0;
    const guarded = guardBackend(
      backendWith(() => {
        calls++;
        throw new Error('MDB_CORRUPTED');
      }),
      { timeoutMs: 50, logger: silentLogger, name: 'test', probeIntervalMs: 60_000 },
    );
    const first = guarded.entries.lookup('u', () => '');
    expect(first).toBeInstanceOf(Promise);
    await expect(first).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(guarded.entries.lookup('u', () => '')).rejects.toThrow(/test store is down: lookup not attempted/);
    expect(calls).toBe(1);
  });
});

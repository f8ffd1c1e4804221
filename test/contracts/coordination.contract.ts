// The one suite every Coordination, ValidatorLedger and RuleStore must pass (memory and Redis):
// one fill-lock holder at a time, locks that expire, a ledger per client and key with a TTL,
// and rule changes that reach subscribers on another instance sharing the store.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Coordination, RuleStore, ValidatorLedger } from '../../src/store/types.js';

export type ContractRules = { version: number; clients: Record<string, string> };

export interface CoordinationSubject {
  coordination: Coordination;
  ledger: ValidatorLedger;
  rules: RuleStore<ContractRules>;
  /** Another instance sharing the store (a second worker); for memory, the same instance. */
  peer: RuleStore<ContractRules>;
  /** The rule store of a worker started now (after earlier saves). */
  restarted(): Promise<RuleStore<ContractRules>>;
  cleanup(): Promise<void>;
}

/**
 * The subject for a shared store: every worker is a backend of its own from `makeBackend`
 * (the first, a peer, and any started later by `restarted`), all closed by cleanup. Each subject
 * names a store of its own (`store`, the same for all its workers: a namespace, a directory), so
 * that a new subject starts empty whatever the tests before it saved.
 */
export function sharedStoreSubject(makeBackend: (store: string) => Promise<Backend<ContractRules>>): () => Promise<CoordinationSubject> {
  let subjects = 0;
  return async () => {
    const store = `store-${++subjects}`;
    const first = await makeBackend(store);
    const second = await makeBackend(store);
    const restarted: Backend<ContractRules>[] = [];
    return {
      ...first,
      peer: second.rules,
      restarted: async () => {
        const worker = await makeBackend(store);
        restarted.push(worker);
        return worker.rules;
      },
      cleanup: async () => {
        await Promise.all([first, second, ...restarted].map((made) => made.close()));
      },
    };
  };
}

const freshKey = (prefix: string): string => `${prefix}-${randomBytes(8).toString('hex')}`;

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(10);
  }
  return true;
}

/** `make` gives a subject over a store of its own, empty: nothing another subject saved. */
export function coordinationContract(name: string, make: () => Promise<CoordinationSubject>): void {
  describe(`Coordination contract: ${name}`, () => {
    let subject: CoordinationSubject;

    beforeAll(async () => {
      subject = await make();
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    describe('fill locks', () => {
      it('has at most one holder of a key, even when asked at once', async () => {
        const key = freshKey('lock');
        const attempts = await Promise.all(Array.from({ length: 10 }, () => subject.coordination.acquireFill(key, 5000)));
        expect(attempts.filter((lock) => lock !== null)).toHaveLength(1);
        expect(await subject.coordination.acquireFill(key, 5000)).toBeNull();
      });

      it('keeps keys apart', async () => {
        const held = await subject.coordination.acquireFill(freshKey('lock'), 5000);
        expect(held).not.toBeNull();
        expect(await subject.coordination.acquireFill(freshKey('lock'), 5000)).not.toBeNull();
      });

      it('reports isFilling while held, and frees the key when the holder releases it', async () => {
        const key = freshKey('lock');
        expect(await subject.coordination.isFilling(key)).toBe(false);
        const lock = await subject.coordination.acquireFill(key, 5000);
        expect(lock).not.toBeNull();
        expect(await subject.coordination.isFilling(key)).toBe(true);
        await lock?.release();
        expect(await subject.coordination.isFilling(key)).toBe(false);
        expect(await subject.coordination.acquireFill(key, 5000)).not.toBeNull();
      });

      it('expires a lock after its TTL, so a crashed holder cannot block a key', async () => {
        const key = freshKey('lock');
        expect(await subject.coordination.acquireFill(key, 200)).not.toBeNull();
        expect(await subject.coordination.acquireFill(key, 200)).toBeNull();
        await delay(350);
        expect(await subject.coordination.isFilling(key)).toBe(false);
        expect(await subject.coordination.acquireFill(key, 5000)).not.toBeNull();
      });

      it('a holder whose lock expired cannot release the next holder’s lock', async () => {
        const key = freshKey('lock');
        const first = await subject.coordination.acquireFill(key, 200);
        await delay(350);
        const second = await subject.coordination.acquireFill(key, 5000);
        expect(second).not.toBeNull();
        await first?.release();
        expect(await subject.coordination.isFilling(key)).toBe(true);
        expect(await subject.coordination.acquireFill(key, 5000)).toBeNull();
      });

      it('a holder that renews its lease keeps the key past the first lease; once it stops, the key frees within a lease', async () => {
        const key = freshKey('lock');
        const lock = await subject.coordination.acquireFill(key, 300);
        expect(lock).not.toBeNull();
        for (let i = 0; i < 4; i++) {
          await delay(150);
          expect(await lock!.renew(300)).toBe(true);
        }
        // 600 ms in: well past the first lease, still held.
        expect(await subject.coordination.isFilling(key)).toBe(true);
        expect(await subject.coordination.acquireFill(key, 300)).toBeNull();
        await delay(450);
        expect(await subject.coordination.isFilling(key)).toBe(false);
      });

      it('a renewal after the lease lapsed (or after release) extends nothing, and never the next holder’s lock', async () => {
        const key = freshKey('lock');
        const first = await subject.coordination.acquireFill(key, 200);
        await delay(350);
        const second = await subject.coordination.acquireFill(key, 200);
        expect(second).not.toBeNull();
        expect(await first!.renew(5000)).toBe(false);
        await delay(350);
        expect(await subject.coordination.isFilling(key)).toBe(false);
        const third = await subject.coordination.acquireFill(key, 5000);
        await third!.release();
        expect(await third!.renew(5000)).toBe(false);
        expect(await subject.coordination.isFilling(key)).toBe(false);
      });
    });

    describe('validator ledger', () => {
      it('remembers a validator per client and key', async () => {
        const key = freshKey('key');
        const otherKey = freshKey('key');
        await subject.ledger.recordServed('alice', key, '"v1"', 60_000);
        await subject.ledger.recordServed('alice', key, '"v2"', 60_000);
        expect(await subject.ledger.wasServed('alice', key, '"v1"')).toBe(true);
        expect(await subject.ledger.wasServed('alice', key, '"v2"')).toBe(true);
        expect(await subject.ledger.wasServed('alice', key, '"v3"')).toBe(false);
        expect(await subject.ledger.wasServed('bob', key, '"v1"')).toBe(false);
        expect(await subject.ledger.wasServed('alice', otherKey, '"v1"')).toBe(false);
      });

      it('keeps client ids containing ":" apart from keys', async () => {
        const key = freshKey('key');
        await subject.ledger.recordServed('::1', `${key}:variant`, '"v1"', 60_000);
        expect(await subject.ledger.wasServed(`::1:${key}`, 'variant', '"v1"')).toBe(false);
        expect(await subject.ledger.wasServed('::1', `${key}:variant`, '"v1"')).toBe(true);
      });

      it('keeps a record to its 16 latest validators, and tells long client ids apart without keeping them whole', async () => {
        const key = freshKey('key');
        for (let n = 1; n <= 20; n++) await subject.ledger.recordServed('dave', key, `"v${n}"`, 60_000);
        // The oldest ones count as not served (the client then gets a 200, never a wrong 304).
        expect(await subject.ledger.wasServed('dave', key, '"v1"')).toBe(false);
        expect(await subject.ledger.wasServed('dave', key, '"v4"')).toBe(false);
        for (let n = 5; n <= 20; n++) expect(await subject.ledger.wasServed('dave', key, `"v${n}"`)).toBe(true);
        const long = 'x'.repeat(7000);
        await subject.ledger.recordServed(`${long}a`, key, '"v1"', 60_000);
        expect(await subject.ledger.wasServed(`${long}a`, key, '"v1"')).toBe(true);
        expect(await subject.ledger.wasServed(`${long}b`, key, '"v1"')).toBe(false);
      });

      it('forgets what it served once the TTL has passed', async () => {
        const key = freshKey('key');
        await subject.ledger.recordServed('carol', key, '"v1"', 200);
        expect(await subject.ledger.wasServed('carol', key, '"v1"')).toBe(true);
        await delay(350);
        expect(await subject.ledger.wasServed('carol', key, '"v1"')).toBe(false);
      });
    });

    describe('rules', () => {
      it('loads nothing before the first save', async () => {
        // A store of its own: the other tests here save rules, in any order.
        const empty = await make();
        try {
          expect(await empty.rules.load()).toBeUndefined();
          expect(await empty.peer.load()).toBeUndefined();
        } finally {
          await empty.cleanup();
        }
      });

      it('loads what was saved, also in a worker started afterwards', async () => {
        const rules: ContractRules = { version: 1, clients: { alice: 'strip', 'scraper-*': 'isolate' } };
        await subject.rules.save(rules);
        expect(await subject.rules.load()).toEqual(rules);
        expect(await subject.peer.load()).toEqual(rules);
        const restarted = await subject.restarted();
        expect(await restarted.load()).toEqual(rules);
      });

      it('delivers a change to every onChange listener of another instance within 1 s', async () => {
        await subject.peer.load(); // a worker reads the rules at start, then listens for changes
        const heardByFirst: ContractRules[] = [];
        const heardBySecond: ContractRules[] = [];
        const stopFirst = subject.peer.onChange((rules) => heardByFirst.push(rules));
        const stopSecond = subject.peer.onChange((rules) => heardBySecond.push(rules));
        try {
          const changed: ContractRules = { version: 2, clients: { bob: 'pass' } };
          const savedAt = Date.now();
          await subject.rules.save(changed);
          const arrived = await waitFor(() => heardByFirst.some((r) => r.version === 2) && heardBySecond.some((r) => r.version === 2), 1000);
          expect(arrived, 'change not delivered within 1 s').toBe(true);
          expect(Date.now() - savedAt).toBeLessThan(1000);
          expect(heardByFirst.at(-1)).toEqual(changed);
          expect(heardBySecond.at(-1)).toEqual(changed);
        } finally {
          stopFirst();
          stopSecond();
        }
      });

      it('stops calling a listener once it unsubscribed', async () => {
        const heardByKept: ContractRules[] = [];
        const heardByStopped: ContractRules[] = [];
        const stopKept = subject.peer.onChange((rules) => heardByKept.push(rules));
        const stop = subject.peer.onChange((rules) => heardByStopped.push(rules));
        stop();
        try {
          await subject.rules.save({ version: 3, clients: {} });
          expect(await waitFor(() => heardByKept.some((r) => r.version === 3), 1000)).toBe(true);
          expect(heardByStopped).toEqual([]);
        } finally {
          stopKept();
        }
      });
    });
  });
}

// What the workers on one host share beside the entries, in the disk store's files: fill locks
// (one fill per URL across the processes that opened the directory), the isolate ledger, and the
// fleet's rules. Every check-and-set is one LMDB write transaction, which LMDB serialises across
// processes. A fill lock is taken in this process first, and in the file too only while another
// process has the directory open: alone, the two transactions per fill (take, release) buy
// nothing (a fill lock saves origin requests; it is not what keeps answers right, so a process
// that starts while a fill runs at worst fetches that URL once more). Another process's rule
// change is noticed by reading a version number a few times a second, only while someone listens.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { MAX_VALIDATORS_PER_RECORD, MemoryCoordination } from '../memory/coordination.js';
import type { Coordination, FillLock, RuleStore, ValidatorLedger } from '../types.js';
import { DecodedRecords } from './decoded-records.js';
import { transact, type DiskDatabases, type VolatileDatabases } from './open.js';
import type { OtherProcesses } from './other-processes.js';
import { keyPart } from './record.js';
import { uniqueId } from './unique-id.js';

interface Lease {
  token: string;
  expires: number;
}

export class DiskCoordination implements Coordination {
  /** Tokens of locks this process released whose removal is not committed yet. */
  private readonly releasing = new Set<string>();
  /** This process's own locks: two backends of one process on one directory share them (tests). */
  private readonly local: MemoryCoordination;

  constructor(
    private readonly db: VolatileDatabases,
    private readonly now: () => number,
    private readonly others: Pick<OtherProcesses, 'any'>,
    dir: string,
  ) {
    this.local = localLocksFor(dir, now);
  }

  acquireFill(key: string, ttlMs: number): FillLock | null | Promise<FillLock | null> {
    const local = this.local.acquireFill(key, ttlMs);
    if (!local || !this.others.any()) return local;
    return this.acquireShared(key, ttlMs).then(
      (shared) => {
        if (shared) return bothLocks(local, shared);
        void local.release();
        return null;
      },
      (err: unknown) => {
        void local.release();
        throw err;
      },
    );
  }

  private async acquireShared(key: string, ttlMs: number): Promise<FillLock | null> {
    const id = keyPart(key);
    const token = uniqueId();
    const won = await transact(this.db.root, () => {
      if (this.holds(this.db.locks.get(id) as Lease | undefined)) return false;
      this.db.locks.putSync(id, { token, expires: this.now() + ttlMs } satisfies Lease);
      return true;
    });
    if (!won) return null;
    let released = false;
    return {
      get released() {
        return released;
      },
      // Not awaited: the lock is free for this process at once (`releasing`) and for the others
      // at the commit; if the commit fails, the lease runs out instead.
      release: async () => {
        if (released) return;
        released = true;
        this.releasing.add(token);
        void transact(this.db.root, () => {
          if ((this.db.locks.get(id) as Lease | undefined)?.token === token) this.db.locks.removeSync(id);
        })
          .catch(() => {})
          .finally(() => this.releasing.delete(token));
      },
      renew: (renewMs) =>
        transact(this.db.root, () => {
          const held = this.db.locks.get(id) as Lease | undefined;
          if (released || held?.token !== token || held.expires <= this.now()) return false;
          this.db.locks.putSync(id, { token, expires: this.now() + renewMs } satisfies Lease);
          return true;
        }),
    };
  }

  async isFilling(key: string): Promise<boolean> {
    return (await this.local.isFilling(key)) || this.holds(this.db.locks.get(keyPart(key)) as Lease | undefined);
  }

  private holds(held: Lease | undefined): held is Lease {
    return !!held && held.expires > this.now() && !this.releasing.has(held.token);
  }
}

/** A lock held in this process and in the file: released and renewed in both. */
function bothLocks(local: FillLock, shared: FillLock): FillLock {
  return {
    get released() {
      return shared.released ?? false;
    },
    release: () => {
      void local.release();
      return shared.release();
    },
    renew: async (ttlMs) => (await local.renew(ttlMs)) && shared.renew(ttlMs),
  };
}

/** Per directory, for the process's life: one small table per directory it opened. */
const localLocks = new Map<string, MemoryCoordination>();

function localLocksFor(dir: string, now: () => number): MemoryCoordination {
  const key = resolve(dir);
  let locks = localLocks.get(key);
  if (!locks) localLocks.set(key, (locks = new MemoryCoordination(now)));
  return locks;
}

interface Served {
  validators: string[];
  expires: number;
}

/** Records kept before the oldest-keyed ones are dropped (a dropped record costs a 200, never a wrong 304). */
const MAX_LEDGER_RECORDS = 1_000_000;
const LEDGER_COUNT_KEY = '#count';

export class DiskLedger implements ValidatorLedger {
  constructor(
    private readonly db: VolatileDatabases,
    private readonly now: () => number,
  ) {}

  async recordServed(client: string, key: string, validator: string, ttlMs: number): Promise<void> {
    const id = ledgerKey(client, key);
    await transact(this.db.root, () => {
      const now = this.now();
      const held = this.db.ledger.get(id) as Served | undefined;
      const live = held && held.expires > now ? held.validators.filter((v) => v !== validator) : [];
      live.push(validator);
      this.db.ledger.putSync(id, { validators: live.slice(-MAX_VALIDATORS_PER_RECORD), expires: now + ttlMs } satisfies Served);
      if (held) return;
      const count = ((this.db.ledger.get(LEDGER_COUNT_KEY) as number | undefined) ?? 0) + 1;
      this.db.ledger.putSync(LEDGER_COUNT_KEY, count > MAX_LEDGER_RECORDS ? count - this.dropSome(id) : count);
    });
  }

  async wasServed(client: string, key: string, validator: string): Promise<boolean> {
    const held = this.db.ledger.get(ledgerKey(client, key)) as Served | undefined;
    return !!held && held.expires > this.now() && held.validators.includes(validator);
  }

  /** Over the bound: drop a batch of records, expired ones and the first by key (not `keep`). */
  private dropSome(keep: string): number {
    let dropped = 0;
    for (const id of this.db.ledger.getKeys({ limit: 1000 })) {
      if (id === keep || id === LEDGER_COUNT_KEY) continue;
      this.db.ledger.removeSync(id);
      dropped++;
    }
    return dropped;
  }
}

/** Client ids and URL keys come from outside (a 7 KB client id): the record is keyed by their digest. */
function ledgerKey(client: string, key: string): string {
  return createHash('sha256').update(client).update('\n').update(key).digest('base64url');
}

const RULES_KEY = 'rules';
/** How often a listening process looks for a rule change made by another one. */
const RULES_POLL_MS = 250;

interface StoredRules<Rules> {
  version: number;
  rules: Rules;
}

export class DiskRuleStore<Rules> implements RuleStore<Rules> {
  private readonly events = new EventEmitter();
  private seen = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The poll's read: the stored bytes compared with the last ones, decoded only when they changed. */
  private readonly polled: DecodedRecords<string>;

  constructor(private readonly db: DiskDatabases) {
    this.polled = new DecodedRecords(db.rules);
    this.seen = this.stored()?.version ?? 0;
  }

  async load(): Promise<Rules | undefined> {
    return this.stored()?.rules;
  }

  async save(rules: Rules): Promise<void> {
    const version = await transact(this.db.root, () => {
      const next = (this.stored()?.version ?? 0) + 1;
      this.db.rules.putSync(RULES_KEY, { version: next, rules } satisfies StoredRules<Rules>);
      return next;
    });
    this.seen = Math.max(this.seen, version);
    this.events.emit('change', rules);
  }

  onChange(listener: (rules: Rules) => void): () => void {
    this.events.on('change', listener);
    this.timer ??= setInterval(() => this.poll(), RULES_POLL_MS).unref();
    return () => {
      this.events.off('change', listener);
      if (!this.events.listenerCount('change')) this.stopPolling();
    };
  }

  async close(): Promise<void> {
    this.stopPolling();
    this.events.removeAllListeners();
  }

  private poll(): void {
    try {
      const polled = this.polled.get(RULES_KEY) as StoredRules<Rules> | undefined;
      if (!polled || polled.version <= this.seen) return;
      // A fresh copy for the listeners: the polled object is kept for the next comparison.
      const stored = this.stored();
      if (!stored) return;
      this.seen = stored.version;
      this.events.emit('change', stored.rules);
    } catch {
      // A failed read is tried again at the next tick; the guard reports failures of load/save.
    }
  }

  private stored(): StoredRules<Rules> | undefined {
    return this.db.rules.get(RULES_KEY) as StoredRules<Rules> | undefined;
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

// In-process implementations of fill locks, the isolate ledger and the rule store, for the
// memory backend (one process). Changes to rules are announced through an EventEmitter.
import { EventEmitter } from 'node:events';
import type { Coordination, FillLock, RuleStore, ValidatorLedger } from '../types.js';

/** A lease on one key: its holder knows it by identity (the map holds it while it is the key's). */
class MemoryFillLock implements FillLock {
  constructor(
    private readonly locks: Map<string, MemoryFillLock>,
    private readonly key: string,
    public expires: number,
    private readonly now: () => number,
  ) {}

  release(): void {
    if (this.locks.get(this.key) === this) this.locks.delete(this.key);
  }

  async renew(ttlMs: number): Promise<boolean> {
    if (this.locks.get(this.key) !== this || this.expires <= this.now()) return false;
    this.expires = this.now() + ttlMs;
    return true;
  }
}

export class MemoryCoordination implements Coordination {
  /** key → its holder's lease. */
  private readonly locks = new Map<string, MemoryFillLock>();

  constructor(private readonly now: () => number = Date.now) {}

  // Answered at once: a revalidation's fill lock costs no promise (cache/collapse.ts).
  acquireFill(key: string, ttlMs: number): FillLock | null {
    const held = this.locks.get(key);
    if (held !== undefined && held.expires > this.now()) return null;
    const lease = new MemoryFillLock(this.locks, key, this.now() + ttlMs, this.now);
    this.locks.set(key, lease);
    return lease;
  }

  async isFilling(key: string): Promise<boolean> {
    const held = this.locks.get(key);
    return held !== undefined && held.expires > this.now();
  }
}

/** Validators kept per client and URL key, the most recent: an older one counts as not served (a 200, never a wrong 304). */
export const MAX_VALIDATORS_PER_RECORD = 16;
/** Client ids and validators come from outside: all records together stay within about this. */
export const LEDGER_BYTES = 32 * 1024 * 1024;
/** A record's objects, its Set and the Map slot (an estimate). */
const RECORD_OVERHEAD_BYTES = 200;
const VALIDATOR_OVERHEAD_BYTES = 40;

interface Served {
  validators: Set<string>;
  expires: number;
  bytes: number;
}

export class MemoryLedger implements ValidatorLedger {
  private readonly served = new Map<string, Served>();
  private bytes = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxClients = 100_000,
    private readonly maxBytes = LEDGER_BYTES,
  ) {}

  async recordServed(client: string, key: string, validator: string, ttlMs: number): Promise<void> {
    const id = `${client}\n${key}`;
    let slot = this.served.get(id);
    const expires = this.now() + ttlMs;
    if (!slot || slot.expires <= this.now()) {
      if (slot) this.drop(id, slot);
      slot = { validators: new Set(), expires, bytes: id.length + RECORD_OVERHEAD_BYTES };
      this.bytes += slot.bytes;
    } else {
      this.served.delete(id); // re-inserted below: most recently recorded last
    }
    this.served.set(id, slot);
    slot.expires = expires;
    if (!slot.validators.has(validator)) {
      slot.validators.add(validator);
      this.grow(slot, validator.length + VALIDATOR_OVERHEAD_BYTES);
      for (const oldest of slot.validators) {
        if (slot.validators.size <= MAX_VALIDATORS_PER_RECORD) break;
        slot.validators.delete(oldest);
        this.grow(slot, -(oldest.length + VALIDATOR_OVERHEAD_BYTES));
      }
    }
    // Bounded like the cache: drop the oldest records first.
    for (const [oldestId, oldest] of this.served) {
      if ((this.served.size <= this.maxClients && this.bytes <= this.maxBytes) || oldest === slot) break;
      this.drop(oldestId, oldest);
    }
  }

  async wasServed(client: string, key: string, validator: string): Promise<boolean> {
    const slot = this.served.get(`${client}\n${key}`);
    return !!slot && slot.expires > this.now() && slot.validators.has(validator);
  }

  /** Records kept and their estimated bytes (tests). */
  usage(): { records: number; bytes: number } {
    return { records: this.served.size, bytes: this.bytes };
  }

  private grow(slot: Served, bytes: number): void {
    slot.bytes += bytes;
    this.bytes += bytes;
  }

  private drop(id: string, slot: Served): void {
    this.served.delete(id);
    this.bytes -= slot.bytes;
  }
}

export class MemoryRuleStore<Rules> implements RuleStore<Rules> {
  private rules: Rules | undefined;
  private readonly events = new EventEmitter();

  async load(): Promise<Rules | undefined> {
    return this.rules;
  }

  async save(rules: Rules): Promise<void> {
    this.rules = rules;
    this.events.emit('change', rules);
  }

  onChange(listener: (rules: Rules) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}

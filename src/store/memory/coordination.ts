// In-process implementations of fill locks, the isolate ledger and the rule store, for the
// memory backend (one process). Changes to rules are announced through an EventEmitter.
import { EventEmitter } from 'node:events';
import type { Coordination, FillLock, RuleStore, ValidatorLedger } from '../types.js';

export class MemoryCoordination implements Coordination {
  /** key → its holder's lease; a holder knows its own by identity. */
  private readonly locks = new Map<string, { expires: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async acquireFill(key: string, ttlMs: number): Promise<FillLock | null> {
    const held = this.locks.get(key);
    if (held !== undefined && held.expires > this.now()) return null;
    const lease = { expires: this.now() + ttlMs };
    this.locks.set(key, lease);
    const holds = () => this.locks.get(key) === lease && lease.expires > this.now();
    return {
      release: async () => {
        if (this.locks.get(key) === lease) this.locks.delete(key);
      },
      renew: async (renewMs) => {
        if (!holds()) return false;
        lease.expires = this.now() + renewMs;
        return true;
      },
    };
  }

  async isFilling(key: string): Promise<boolean> {
    const held = this.locks.get(key);
    return held !== undefined && held.expires > this.now();
  }
}

export class MemoryLedger implements ValidatorLedger {
  private readonly served = new Map<string, { validators: Set<string>; expires: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxClients = 100_000,
  ) {}

  async recordServed(client: string, key: string, validator: string, ttlMs: number): Promise<void> {
    const id = `${client}\n${key}`;
    const slot = this.served.get(id);
    const expires = this.now() + ttlMs;
    if (slot && slot.expires > this.now()) {
      slot.validators.add(validator);
      slot.expires = expires;
      return;
    }
    this.served.delete(id);
    this.served.set(id, { validators: new Set([validator]), expires });
    // Bounded like the cache: drop the oldest records first.
    for (const oldest of this.served.keys()) {
      if (this.served.size <= this.maxClients) break;
      this.served.delete(oldest);
    }
  }

  async wasServed(client: string, key: string, validator: string): Promise<boolean> {
    const slot = this.served.get(`${client}\n${key}`);
    return !!slot && slot.expires > this.now() && slot.validators.has(validator);
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

// A pool at run time: its parents, which of them are cooling down after a failure, and the
// choice of the next one (round-robin over those that are up). Pure bookkeeping: no sockets.
import type { ParentSpec, PoolSpec } from './config.js';

export interface Parent {
  readonly spec: ParentSpec;
  readonly pool: string;
  /** `scheme://host:port`: what logs, metrics and admin answers show. */
  readonly label: string;
  /** `Basic …` for Proxy-Authorization, or undefined when the parent needs none. Never logged. */
  readonly authorization: string | undefined;
  /** Until when (clock ms) the parent is skipped after a failure; 0 = up. */
  downUntil: number;
}

export function basicAuthorization(spec: ParentSpec): string | undefined {
  if (spec.username === undefined && spec.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${spec.username ?? ''}:${spec.password ?? ''}`).toString('base64')}`;
}

export class ParentPool {
  readonly parents: readonly Parent[];
  private turn = 0;

  constructor(
    readonly spec: PoolSpec,
    private readonly now: () => number,
  ) {
    this.parents = spec.parents.map((parentSpec) => ({ spec: parentSpec, pool: spec.name, label: parentSpec.label, authorization: basicAuthorization(parentSpec), downUntil: 0 }));
  }

  get name(): string {
    return this.spec.name;
  }

  /** The next parent that is up, round-robin; `avoid` is skipped when another is up. Undefined when none is up. */
  pick(avoid?: Parent): Parent | undefined {
    const now = this.now();
    const count = this.parents.length;
    let fallback: Parent | undefined;
    for (let i = 0; i < count; i++) {
      const parent = this.parents[(this.turn + i) % count]!;
      if (parent.downUntil > now) continue;
      if (parent === avoid) {
        fallback ??= parent;
        continue;
      }
      this.turn = (this.turn + i + 1) % count;
      return parent;
    }
    return fallback;
  }

  /** A failed parent is skipped for the pool's cooldown. */
  markDown(parent: Parent): void {
    parent.downUntil = this.now() + this.spec.cooldownMs;
  }

  upCount(): number {
    const now = this.now();
    return this.parents.filter((p) => p.downUntil <= now).length;
  }
}

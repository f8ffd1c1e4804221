// A pool at run time: its parents, which of them are cooling down after a failure, and the
// choice of the next one: round-robin, random, weighted (random by weight) or sticky
// (rendezvous hashing of the session or client over the parents that are up, so one parent
// going down moves only its own sessions; Squid's sourcehash/userhash). No sockets here.
import { ParentTally, PoolSavings } from './accounting.js';
import type { ParentSpec, PoolSpec } from './config.js';
import { fillUsername, type RouteKey } from './session.js';

export interface Parent {
  readonly spec: ParentSpec;
  readonly pool: string;
  /** `scheme://host:port`: what logs, metrics and admin answers show. */
  readonly label: string;
  /** `Basic …` for Proxy-Authorization without a template, or undefined when the parent needs none. Never logged. */
  readonly authorization: string | undefined;
  /** The configured credentials, made once (a pool without a user-name template sends these on every request). */
  readonly credentials: Credentials | undefined;
  /** Until when (clock ms) the parent is skipped after a failure; 0 = up. */
  downUntil: number;
  readonly tally: ParentTally;
}

export interface Credentials {
  username: string;
  password: string;
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function configuredCredentials(spec: ParentSpec): Credentials | undefined {
  if (spec.username === undefined && spec.password === undefined) return undefined;
  return { username: spec.username ?? '', password: spec.password ?? '' };
}

export function basicAuthorization(spec: ParentSpec): string | undefined {
  const credentials = configuredCredentials(spec);
  return credentials && basic(credentials.username, credentials.password);
}

/** FNV-1a, 32 bits: a cheap, stable hash for rendezvous scores. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class ParentPool {
  readonly parents: readonly Parent[];
  readonly savings = new PoolSavings();
  private turn = 0;

  constructor(
    readonly spec: PoolSpec,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {
    this.parents = spec.parents.map((parentSpec) => ({
      spec: parentSpec,
      pool: spec.name,
      label: parentSpec.label,
      authorization: basicAuthorization(parentSpec),
      credentials: configuredCredentials(parentSpec),
      downUntil: 0,
      tally: new ParentTally(),
    }));
  }

  get name(): string {
    return this.spec.name;
  }

  /** The parents that are up, without `avoid` when another one is up. */
  private candidates(avoid: Parent | undefined): readonly Parent[] {
    const now = this.now();
    // Usually every parent is up: the pool's own list then, no copy per request.
    const up = this.parents.every((p) => p.downUntil <= now) ? this.parents : this.parents.filter((p) => p.downUntil <= now);
    const others = avoid ? up.filter((p) => p !== avoid) : up;
    return others.length ? others : up;
  }

  /** The parent for a request with this key; undefined when none is up. */
  pick(key: RouteKey = {}, avoid?: Parent): Parent | undefined {
    const candidates = this.candidates(avoid);
    if (candidates.length <= 1) return candidates[0];
    switch (this.spec.selection) {
      case 'random':
        return candidates[Math.floor(this.random() * candidates.length)];
      case 'weighted': {
        let left = this.random() * candidates.reduce((sum, p) => sum + p.spec.weight, 0);
        for (const parent of candidates) if ((left -= parent.spec.weight) < 0) return parent;
        return candidates.at(-1);
      }
      case 'sticky': {
        const sticky = key.session ?? key.client ?? '';
        let best = candidates[0]!;
        let bestScore = -1;
        for (const parent of candidates) {
          const score = hash(`${sticky}\n${parent.label}`) * parent.spec.weight;
          if (score > bestScore) [best, bestScore] = [parent, score];
        }
        return best;
      }
      default: {
        // Round-robin over the whole list, skipping those not among the candidates.
        const count = this.parents.length;
        for (let i = 0; i < count; i++) {
          const parent = this.parents[(this.turn + i) % count]!;
          if (!candidates.includes(parent)) continue;
          this.turn = (this.turn + i + 1) % count;
          return parent;
        }
        return candidates[0];
      }
    }
  }

  /**
   * Credentials and Proxy-Authorization for this parent and request: the user name template
   * filled from the key, else the configured ones (made once, not per request).
   */
  credentialsFor(parent: Parent, key: RouteKey): { credentials: Credentials | undefined; authorization: string | undefined } {
    const template = this.spec.usernameTemplate;
    if (template === undefined) return { credentials: parent.credentials, authorization: parent.authorization };
    const credentials = { username: fillUsername(template, key), password: parent.spec.password ?? '' };
    return { credentials, authorization: basic(credentials.username, credentials.password) };
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

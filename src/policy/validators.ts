// The single decision point for a client's validators on GET/HEAD (pass | strip | isolate).
// Pure apart from the ledger question `servedHere`, which only `isolate` asks.
import type { ClientValidators } from '../http/conditionals.js';
import { parseEtagList } from '../http/conditionals.js';
import type { ValidatorMode } from './types.js';

/** Client request fields a validator policy may remove; each shows as `detail=dropped-<field>`. */
export const DROPPED_FIELDS = ['if-none-match', 'if-modified-since', 'if-range', 'range'] as const;
export type DroppedField = (typeof DROPPED_FIELDS)[number];

export interface ConditionalPlan {
  /** deliver compares these with the entry → 304 or 200. */
  evaluateAtDeliver: ClientValidators | null;
  /** May reach the origin only on a miss with no entry (the client asked for a 304). */
  forwardWhenNoEntry: ClientValidators | null;
  /** Range / If-Range the client sent, still to be forwarded (null when dropped or absent). */
  range: { range: string; ifRange?: string } | null;
  dropped: DroppedField[];
}

export interface ClientConditionals extends ClientValidators {
  range?: string;
  ifRange?: string;
}

/** The key the ledger stores for a Last-Modified value, beside entity-tags. */
export const lastModifiedToken = (value: string): string => `lm:${value}`;

/** The plan for a request that sent no validators and no range: nothing to decide. */
export const UNCONDITIONAL: ConditionalPlan = Object.freeze({ evaluateAtDeliver: null, forwardWhenNoEntry: null, range: null, dropped: [] });

export function isUnconditional(client: ClientConditionals): boolean {
  return client.ifNoneMatch === undefined && client.ifModifiedSince === undefined && client.range === undefined && client.ifRange === undefined;
}

export async function planConditionals(
  client: ClientConditionals,
  mode: ValidatorMode,
  servedHere: (validator: string) => Promise<boolean>,
): Promise<ConditionalPlan> {
  const { ifNoneMatch, ifModifiedSince, range, ifRange } = client;
  const validators: ClientValidators = {
    ...(ifNoneMatch !== undefined && { ifNoneMatch }),
    ...(ifModifiedSince !== undefined && { ifModifiedSince }),
  };
  const rangePart = range !== undefined ? { range, ...(ifRange !== undefined && { ifRange }) } : null;
  const present = (Object.keys(validators).length ? validators : null);

  if (mode === 'pass') {
    return { evaluateAtDeliver: present, forwardWhenNoEntry: present, range: rangePart, dropped: [] };
  }
  if (mode === 'strip') {
    const dropped: DroppedField[] = [];
    if (ifNoneMatch !== undefined) dropped.push('if-none-match');
    if (ifModifiedSince !== undefined) dropped.push('if-modified-since');
    if (range !== undefined) dropped.push('range');
    if (ifRange !== undefined) dropped.push('if-range');
    return { evaluateAtDeliver: null, forwardWhenNoEntry: null, range: null, dropped };
  }

  // isolate: keep only what this proxy served to this client for this URL.
  const dropped: DroppedField[] = [];
  const kept: ClientValidators = {};
  if (ifNoneMatch !== undefined) {
    const tags = parseEtagList(ifNoneMatch).filter((tag) => tag !== '*');
    const served = (await Promise.all(tags.map(async (tag) => ((await servedHere(tag)) ? tag : null)))).filter((t) => t !== null);
    if (served.length) kept.ifNoneMatch = served.join(', ');
    else dropped.push('if-none-match');
  }
  if (ifModifiedSince !== undefined) {
    if (await servedHere(lastModifiedToken(ifModifiedSince))) kept.ifModifiedSince = ifModifiedSince;
    else dropped.push('if-modified-since');
  }
  if (range !== undefined) dropped.push('range');
  if (ifRange !== undefined) dropped.push('if-range');
  const honoured = Object.keys(kept).length ? kept : null;
  // An origin 304 for a validator we never evaluated is never passed on under isolate.
  return { evaluateAtDeliver: honoured, forwardWhenNoEntry: null, range: null, dropped };
}

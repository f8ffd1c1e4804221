// The fleet's rule document with URL rules: the seed of a config without URL rules is what it
// was before they existed (an upgrade keeps the stored rules); with them it changes; a document
// written before them decodes with none. And the decision at start: who seeds, who adopts.
import { describe, expect, it } from 'vitest';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { emptyRules } from '../../src/policy/rules.js';
import { decodeStored, seedOf, startingRules } from '../../src/policy/stored-rules.js';

const policies = { default: { validators: 'strip' as const }, clients: [], hosts: [] };
const urlRules = parseCrawlRules('rules', [{ match: { host: '*' }, sortQuery: true }]);

describe('stored URL rules', () => {
  it('keeps the seed of a config without URL rules, and changes it with them', () => {
    expect(seedOf(policies, [])).toBe(seedOf(policies));
    expect(seedOf(policies, urlRules)).not.toBe(seedOf(policies));
    expect(seedOf(emptyRules(), urlRules)).not.toBe(seedOf(policies, urlRules));
  });

  it('decodes a document written before URL rules existed, and validates urlRules as strictly as the file', () => {
    expect(decodeStored({ rules: policies, seed: 'x' })).toEqual({ rules: policies, seed: 'x' });
    expect(decodeStored({ rules: policies, urlRules, seed: 'x' }).urlRules).toEqual(urlRules);
    expect(() => decodeStored({ rules: policies, urlRules: [{ match: { host: '*' }, store: 'no' }], seed: 'x' })).toThrow('stored policies.urlRules[0].store: expected true or false, got "no"');
  });

  it('stored rules seeded from the same file rules win; changed URL rules in the file replace them only with --replace-fleet-rules', () => {
    const stored = { rules: policies, urlRules: [...urlRules, ...parseCrawlRules('rules', [{ match: { host: 'x' }, store: false }])], seed: seedOf(policies, urlRules) };
    expect(startingRules(policies, { doc: stored }, urlRules)).toEqual({ use: 'stored', reason: 'same seed', doc: stored });
    expect(startingRules(policies, { doc: stored }, [])).toEqual({ use: 'stored', reason: 'config differs', doc: stored });
    expect(startingRules(policies, { doc: stored }, [], true)).toMatchObject({ use: 'file', reason: 'replaced', doc: { rules: policies, seed: seedOf(policies) } });
  });
});

describe('rules at start: the first writer seeds the fleet, later ones adopt its rules', () => {
  const stored = { rules: policies, seed: seedOf(policies) };
  const none = { doc: undefined, unreadable: false };

  it('a configuration that names no rules adopts the stored ones, whoever seeded them, and writes nothing when none are stored', () => {
    expect(startingRules(emptyRules(), { doc: stored })).toEqual({ use: 'stored', reason: 'adopted', doc: stored });
    expect(startingRules(emptyRules(), none)).toMatchObject({ use: 'local', reason: 'nothing to seed' });
  });

  it('a configuration with rules seeds an empty store, and keeps the fleet\'s rules when they grew from other ones', () => {
    const other = { default: {}, clients: [{ match: 'x', validators: 'isolate' as const }], hosts: [] };
    expect(startingRules(other, none)).toMatchObject({ use: 'file', reason: 'seeded', doc: { rules: other, seed: seedOf(other) } });
    expect(startingRules(other, { doc: stored })).toEqual({ use: 'stored', reason: 'config differs', doc: stored });
  });

  it('--replace-fleet-rules replaces rules that grew from other file rules (even with none), but keeps run-time changes to the same ones', () => {
    expect(startingRules(emptyRules(), { doc: stored }, [], true)).toMatchObject({ use: 'file', reason: 'replaced', doc: { rules: emptyRules() } });
    const changedAtRunTime = { ...stored, rules: { ...policies, clients: [{ match: 'y', validators: 'strip' as const }] } };
    expect(startingRules(policies, { doc: changedAtRunTime }, [], true)).toEqual({ use: 'stored', reason: 'same seed', doc: changedAtRunTime });
  });

  it('an unreadable stored document (a newer version\'s?) is overwritten only with --replace-fleet-rules', () => {
    expect(startingRules(policies, { doc: undefined, unreadable: true })).toMatchObject({ use: 'local', reason: 'stored rules unreadable' });
    expect(startingRules(policies, { doc: undefined, unreadable: true }, [], true)).toMatchObject({ use: 'file', reason: 'replaced' });
  });
});

// The fleet's rule document with URL rules: the seed of a config without URL rules is what it
// was before they existed (an upgrade keeps the stored rules); with them it changes; a document
// written before them decodes with none.
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

  it('stored rules seeded from the same file rules win; changed URL rules in the file replace them', () => {
    const stored = { rules: policies, urlRules: [...urlRules, ...parseCrawlRules('rules', [{ match: { host: 'x' }, store: false }])], seed: seedOf(policies, urlRules) };
    expect(startingRules(policies, stored, urlRules)).toEqual({ use: 'stored', doc: stored });
    expect(startingRules(policies, stored, [])).toMatchObject({ use: 'file', reason: 'config file changed', doc: { rules: policies, seed: seedOf(policies) } });
  });
});

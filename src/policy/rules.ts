// Matching policy rules to a request. Precedence, per setting: the first rule that sets it in
// this order wins — exact client id, client glob (in file order), host glob (in file order),
// the rules' default, then the command-line default (--validators, --request-cache-control).
import { boundedMemo } from '../bounded-memo.js';
import { compileGlobAt } from '../config/schema.js';
import type { ClientPolicy, ClientRule, HostRule, PolicyRules, RuleSettings } from './types.js';

// The rule documents' types live in types.ts (config/schema.ts reads them, and this module reads config/schema.ts).
export type { ClientRule, HostRule, PolicyRules, RuleSettings } from './types.js';

export const emptyRules = (): PolicyRules => ({ default: {}, clients: [], hosts: [] });

const isGlob = (pattern: string): boolean => /[*?[\]{}!]/.test(pattern);

/** Compiled once per rules change: matching is on every request. */
export class RuleMatcher {
  private readonly exact = new Map<string, ClientRule>();
  private readonly clientGlobs: Array<{ rule: ClientRule; test: (s: string) => boolean }> = [];
  private readonly hostGlobs: Array<{ rule: HostRule; test: (s: string) => boolean }> = [];

  constructor(
    readonly rules: PolicyRules,
    private readonly fallback: Required<Omit<RuleSettings, 'offline'>> & { offline?: boolean },
  ) {
    // Globs compile to linear-time matchers (glob.ts); one that does not compile is a ConfigError
    // naming it (a 400 for an admin change, before anything is saved).
    rules.clients.forEach((rule, i) => {
      if (isGlob(rule.match)) this.clientGlobs.push({ rule, test: compileGlobAt(`policies.clients[${i}].match`, rule.match, 'name') });
      else if (!this.exact.has(rule.match)) this.exact.set(rule.match, rule);
    });
    rules.hosts.forEach((rule, i) => {
      this.hostGlobs.push({ rule, test: compileGlobAt(`policies.hosts[${i}].match`, rule.match.toLowerCase(), 'name') });
    });
  }

  // Within about 2 MiB: client ids come from clients, and may be long (bounded-memo.ts).
  private readonly resolved = boundedMemo<ClientPolicy>('client-policies', 10_000, 2 * 1024 * 1024, (policy) => policy.rule.length);

  /** The pair asked last, and its answer: a client crawling one host asks the same question each time. */
  private last: { clientId: string; host: string; policy: ClientPolicy } | undefined;

  /** Memoised (the 10,000 most recent pairs): the same client asks about the same hosts over and over. */
  resolve(clientId: string, host: string): ClientPolicy {
    const last = this.last;
    if (last !== undefined && last.clientId === clientId && last.host === host) return last.policy;
    const key = `${clientId}\n${host}`;
    let policy = this.resolved.get(key);
    if (!policy) {
      policy = this.match(clientId, host);
      this.resolved.set(key, policy);
    }
    this.last = { clientId, host, policy };
    return policy;
  }

  private match(clientId: string, host: string): ClientPolicy {
    const candidates: Array<{ name: string; settings: RuleSettings }> = [];
    const exact = this.exact.get(clientId);
    if (exact) candidates.push({ name: `client:${exact.match}`, settings: exact });
    for (const { rule, test } of this.clientGlobs) if (test(clientId)) candidates.push({ name: `client:${rule.match}`, settings: rule });
    const hostName = host.toLowerCase();
    for (const { rule, test } of this.hostGlobs) if (test(hostName)) candidates.push({ name: `host:${rule.match}`, settings: rule });
    candidates.push({ name: 'default', settings: this.rules.default });

    const pick = <K extends keyof RuleSettings>(key: K): { value: Required<RuleSettings>[K]; from: string } => {
      for (const c of candidates) {
        const value = c.settings[key];
        if (value !== undefined) return { value: value as Required<RuleSettings>[K], from: c.name };
      }
      return { value: this.fallback[key] as Required<RuleSettings>[K], from: 'flags' };
    };
    const validators = pick('validators');
    const requestCacheControl = pick('requestCacheControl');
    const offline = pick('offline');
    return { validators: validators.value, requestCacheControl: requestCacheControl.value, rule: validators.from, ...(offline.value && { offline: true }) };
  }
}

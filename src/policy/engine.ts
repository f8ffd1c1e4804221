// The policy layer the pipeline talks to: identity, and the live rules. The store holds the
// fleet's current rules; every change published through it is applied here atomically.
import type { IncomingMessage } from 'node:http';
import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { RuleStore } from '../store/types.js';
import { identifyClient } from './identity.js';
import { RuleMatcher, type PolicyRules } from './rules.js';
import type { ClientIdentity, ClientPolicy, PolicyEngine } from './types.js';

export class LivePolicyEngine implements PolicyEngine {
  readonly identityHeaders: readonly string[];
  private matcher: RuleMatcher;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly config: ProxyConfig,
    private readonly logger: Logger,
  ) {
    this.identityHeaders = [config.identity.header.toLowerCase()];
    this.matcher = this.compile(config.policies);
  }

  get rules(): PolicyRules {
    return this.matcher.rules;
  }

  identify(clientReq: IncomingMessage): ClientIdentity {
    return identifyClient(clientReq, this.config.identity);
  }

  resolve(clientId: string, host: string): ClientPolicy {
    return this.matcher.resolve(clientId, host);
  }

  /** Swap in new rules (already validated). */
  apply(rules: PolicyRules): void {
    this.matcher = this.compile(rules);
  }

  /** Follow the fleet's rules: take what the store holds now, then every published change. */
  async follow(store: RuleStore<PolicyRules>): Promise<void> {
    this.unsubscribe = store.onChange((rules) => {
      this.apply(rules);
      this.logger.info('policies changed', { clients: rules.clients.length, hosts: rules.hosts.length });
    });
    try {
      const stored = await store.load();
      if (stored) this.apply(stored);
    } catch (error) {
      this.logger.warn('could not load stored policies; using the configured ones', { error: (error as Error).message });
    }
  }

  private compile(rules: PolicyRules): RuleMatcher {
    return new RuleMatcher(rules, { validators: this.config.validators, requestCacheControl: this.config.requestCacheControl });
  }

  async close(): Promise<void> {
    this.unsubscribe();
  }
}

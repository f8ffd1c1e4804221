// The policy layer the pipeline talks to: identity, and the live rules. The store holds the
// fleet's current rules; every change published through it is applied here atomically (one
// compiled matcher swapped in). Which rules win at start is stored-rules.ts's decision.
import type { IncomingMessage } from 'node:http';
import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { parseCrawlRules } from '../config/rules-schema.js';
import { parsePolicies } from '../config/schema.js';
import type { RuleStore } from '../store/types.js';
import { identifyClient } from './identity.js';
import { CrawlRuleMatcher, type CrawlRule, type ResolvedCrawlRule } from './crawl-rules.js';
import { RuleMatcher, type PolicyRules } from './rules.js';
import { decodeStored, seedOf, startingRules, type StoredAtStart, type StoredPolicies } from './stored-rules.js';
import type { ClientIdentity, ClientPolicy, PolicyEngine } from './types.js';

/**
 * Where the rules in force at start came from, for the start-up line (cli/serve.ts): the fleet's
 * stored rules, or the config file's, and why (see startingRules in stored-rules.ts).
 */
export type RulesAtStart =
  | { from: 'store'; reason: 'same seed' | 'adopted' | 'config differs' }
  | { from: 'config'; reason: 'seeded' | 'replaced' | 'same as stored' | 'nothing to seed' | 'stored rules unreadable' | 'store unavailable' };

/** While the store could not be read at start, it is read again this often until it answers. */
const START_RETRY_MS = 1000;

export class LivePolicyEngine implements PolicyEngine {
  readonly identityHeaders: readonly string[];
  /** Set by follow(); 'store unavailable' until the store answers. */
  atStart: RulesAtStart = { from: 'config', reason: 'store unavailable' };
  private matcher: RuleMatcher;
  private crawlMatcher: CrawlRuleMatcher;
  private currentSeed: string;
  private unsubscribe: () => void = () => {};
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: ProxyConfig,
    private readonly logger: Logger,
  ) {
    this.identityHeaders = [config.identity.header.toLowerCase()];
    this.matcher = this.compile(config.policies);
    this.currentSeed = seedOf(config.policies, config.rules);
    this.crawlMatcher = new CrawlRuleMatcher(config.rules);
  }

  get crawlRules(): readonly CrawlRule[] {
    return this.crawlMatcher.rules;
  }

  crawlRule(url: URL): ResolvedCrawlRule {
    return this.crawlMatcher.resolve(url);
  }

  get rules(): PolicyRules {
    return this.matcher.rules;
  }

  /** The seed of the rules in force: saved with every run-time change (see stored-rules.ts). */
  get seed(): string {
    return this.currentSeed;
  }

  /** The command-line defaults that apply when no rule sets a value. */
  get flags(): { validators: ClientPolicy['validators']; requestCacheControl: ClientPolicy['requestCacheControl'] } {
    return { validators: this.config.validators, requestCacheControl: this.config.requestCacheControl };
  }

  identify(clientReq: IncomingMessage): ClientIdentity {
    return identifyClient(clientReq, this.config.identity);
  }

  resolve(clientId: string, host: string): ClientPolicy {
    return this.matcher.resolve(clientId, host);
  }

  /** Swap in new rules (already validated); `seed` names the file rules they grew from. */
  apply(rules: PolicyRules, seed: string = this.currentSeed, urlRules?: CrawlRule[]): void {
    this.matcher = this.compile(rules);
    if (urlRules) this.crawlMatcher = new CrawlRuleMatcher(urlRules);
    this.currentSeed = seed;
  }

  /** Swap in new URL rules for crawls (already validated), keeping the policies. */
  applyUrlRules(urlRules: CrawlRule[]): void {
    this.crawlMatcher = new CrawlRuleMatcher(urlRules);
  }

  /**
   * Follow the fleet's rules: every published change, and at start the decision of
   * stored-rules.ts (the fleet's stored rules, or the file's, saved for the fleet only when none
   * are stored or --replace-fleet-rules says so). When the store cannot be read at start, the
   * file's rules apply until it answers: it is read again every START_RETRY_MS (and on the first
   * document heard), and the decision is then made and logged.
   */
  async follow(store: RuleStore<StoredPolicies>): Promise<void> {
    // Set while the store could not be read at start: the first rules read later get the start
    // decision, so a file changed during an outage is not overridden by the old rules.
    let startPending = false;
    // While the start decision is being made (and saved), a document heard from the store (the
    // subscriber's own read on connecting, or a worker's change) waits: applied meanwhile, it
    // would briefly put back the rules the decision replaces and misreport the start-up line.
    let starting = true;
    let heardWhileStarting: { value: unknown } | undefined;
    const hear = (value: unknown) => {
      if (this.adopt(value, 'published') === 'changed') {
        this.logger.info('policies changed', { clients: this.rules.clients.length, hosts: this.rules.hosts.length, urlRules: this.crawlRules.length });
      }
    };
    const startLate = (value: unknown) => {
      if (!startPending || this.closed) return;
      startPending = false;
      clearTimeout(this.retryTimer);
      void this.start(store, value, true);
    };
    this.unsubscribe = store.onChange((value) => {
      if (startPending) startLate(value);
      else if (starting) heardWhileStarting = { value };
      else hear(value);
    });
    let stored: unknown;
    try {
      stored = await store.load();
    } catch (error) {
      startPending = true;
      starting = false;
      this.logger.warn('could not load stored policies; using the configured ones until the store answers', { error: (error as Error).message });
      const retry = () => {
        this.retryTimer = setTimeout(() => {
          if (!startPending || this.closed) return;
          store.load().then(startLate, retry);
        }, START_RETRY_MS);
        this.retryTimer.unref();
      };
      retry();
      return;
    }
    const saved = await this.start(store, stored, false);
    starting = false;
    // Our own save is the newest document when we made one; otherwise what we heard is newer.
    if (heardWhileStarting && !saved) hear(heardWhileStarting.value);
  }

  /**
   * `late`: the store could not be read at start, and this is the first document read since.
   * Resolves true when it saved the file's rules for the fleet.
   */
  private async start(store: RuleStore<StoredPolicies>, value: unknown, late: boolean): Promise<boolean> {
    let stored: StoredAtStart = { doc: undefined, unreadable: false };
    if (value !== undefined) {
      try {
        stored = { doc: decodeStored(value) };
      } catch (error) {
        stored = { doc: undefined, unreadable: true };
        const outcome = this.config.replaceFleetRules ? 'replacing them with the configured ones (--replace-fleet-rules)' : 'using the configured ones in this process, leaving the store as it is';
        this.logger.warn(`stored policies are unreadable; ${outcome}`, { error: (error as Error).message });
      }
    }
    const decision = startingRules(this.config.policies, stored, this.config.rules, this.config.replaceFleetRules);
    this.atStart =
      decision.use !== 'stored'
        ? { from: 'config', reason: decision.reason }
        : sameRules(decision.doc.rules, this.config.policies) && sameUrlRules(decision.doc.urlRules ?? [], this.config.rules)
          ? { from: 'config', reason: 'same as stored' }
          : { from: 'store', reason: decision.reason };
    this.apply(decision.doc.rules, decision.doc.seed, decision.doc.urlRules ?? []);
    // The start-up line (cli/serve.ts) reports the decision; one made after it was printed is logged here.
    if (late) this.logger.info('policies chosen now that the store answers', { ...this.atStart, clients: this.rules.clients.length, hosts: this.rules.hosts.length, urlRules: this.crawlRules.length });
    if (decision.use !== 'file') return false;
    try {
      await store.save(decision.doc);
      return true;
    } catch (error) {
      this.logger.warn('could not save the configured policies to the store', { error: (error as Error).message });
      return false;
    }
  }

  /**
   * Apply a document heard from the store; an unreadable one is logged and ignored. The echo of
   * a change this process made itself (its own save, heard back) is 'unchanged'.
   */
  private adopt(value: unknown, origin: string): 'changed' | 'unchanged' | 'ignored' {
    try {
      const doc = decodeStored(value);
      const same = doc.seed === this.currentSeed && sameRules(doc.rules, this.rules) && sameUrlRules(doc.urlRules ?? [], this.crawlRules);
      this.apply(doc.rules, doc.seed, doc.urlRules ?? []);
      return same ? 'unchanged' : 'changed';
    } catch (error) {
      this.logger.warn(`ignored unreadable ${origin} policies`, { error: (error as Error).message });
      return 'ignored';
    }
  }

  private compile(rules: PolicyRules): RuleMatcher {
    return new RuleMatcher(rules, { validators: this.config.validators, requestCacheControl: this.config.requestCacheControl, offline: this.config.offline });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.unsubscribe();
  }
}

/** Same rules, however they were written (both re-parsed into canonical order). */
function sameRules(a: PolicyRules, b: PolicyRules): boolean {
  return JSON.stringify(parsePolicies('policies', a)) === JSON.stringify(parsePolicies('policies', b));
}

function sameUrlRules(a: readonly CrawlRule[], b: readonly CrawlRule[]): boolean {
  return JSON.stringify(parseCrawlRules('rules', a)) === JSON.stringify(parseCrawlRules('rules', b));
}

// The per-client policy vocabulary shared by config, rules, the admin API and the pipeline.
import type { IncomingMessage } from 'node:http';
import type { ResolvedCrawlRule } from './crawl-rules.js';

export const VALIDATOR_MODES = ['pass', 'strip', 'isolate'] as const;
export type ValidatorMode = (typeof VALIDATOR_MODES)[number];

export const REQUEST_CACHE_CONTROL_MODES = ['honor', 'ignore'] as const;
export type RequestCacheControlMode = (typeof REQUEST_CACHE_CONTROL_MODES)[number];

/** What applies to one request, and which rule said so (for logs and Cache-Status). */
export interface ClientPolicy {
  validators: ValidatorMode;
  requestCacheControl: RequestCacheControlMode;
  rule: string;
  /** From a policy rule's `offline`, else --offline; present only when true (keeps /policies/resolve as it was). */
  offline?: true;
}

export interface ClientIdentity {
  /** The client's name for policies, logs and the change feed: a label, possibly claimed. */
  id: string;
  source: 'proxy-authorization' | 'header' | 'ip';
  /**
   * Who the proxy knows is asking: `user:<name>` for a Basic user whose password it checked
   * (identity.users), `internal:<name>` for its own requests, else `ip:<address>` of the
   * connection (of the CONNECT's, inside a tunnel). Only this selects a per-client entry.
   */
  verified: string;
}

/** The pipeline's view of the policy layer: who is asking, and what applies to them. */
export interface PolicyEngine {
  /** Resolve the client; throws ProxyError(407) when authentication is required and fails. */
  identify(clientReq: IncomingMessage): ClientIdentity;
  /** Request header names that carry identity and must never reach the origin. */
  readonly identityHeaders: readonly string[];
  resolve(clientId: string, host: string): ClientPolicy;
  /** The URL rules for crawls that apply to this URL (memoised per URL). */
  crawlRule(url: URL): ResolvedCrawlRule;
  close(): Promise<void>;
}

export interface RuleSettings {
  validators?: ValidatorMode;
  requestCacheControl?: RequestCacheControlMode;
  /** Answer this client only from the cache (as --offline); a URL rule's `offline` wins over it. */
  offline?: boolean;
}

export interface ClientRule extends RuleSettings {
  /** Exact client id, or a glob (`scraper-*`). */
  match: string;
}

export interface HostRule extends RuleSettings {
  /** Host glob (`*.example.com`), matched against the lower-case host name. */
  match: string;
}

export interface PolicyRules {
  default: RuleSettings;
  clients: ClientRule[];
  hosts: HostRule[];
}

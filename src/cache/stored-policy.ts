// The cache policy as an entry keeps it (EntryMeta.policy): the facts the RFC 9111 rules are
// computed from again at each lookup (cache/response-policy.ts), never their results, so a
// corrected rule applies to entries already stored. This project's own form, version 2; version 1
// was http-cache-semantics' toObject(), which nothing reads any more (stores treat it as a miss).
// No imports: the store types and the cache both name it.

export const STORED_POLICY_VERSION = 2;

export interface StoredPolicy {
  v: typeof STORED_POLICY_VERSION;
  /** When the response was received, on the proxy's clock (ms): resident time counts from here (RFC 9111 §4.2.3). */
  receivedAt: number;
  /**
   * The response fields the policy was built from, only when they differ from the entry's stored
   * headers (a crawl rule or a targeted Cache-Control rewrote them); absent: the stored headers.
   */
  fields?: Record<string, string> | undefined;
  /** The request carried Authorization (RFC 9111 §3.5). */
  authorization?: true | undefined;
  /** The request said no-store (RFC 9111 §3, §5.2.1.5): the response was not storable. */
  requestNoStore?: true | undefined;
}

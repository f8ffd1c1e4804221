// The cache policy of one stored or storable response, as a value: the facts RFC 9111 decides
// from (status, corrected response fields, the two request facts §3 reads, time of receipt) and
// what follows from them once (directives, storability, freshness lifetime). Its stored form is
// StoredPolicy (cache/stored-policy.ts). The questions asked of it live in cache/semantics.ts.
import { parseDirectives, type DirectiveValue } from '../http/cache-control.js';
import type { OverrideToken } from '../policy/crawl-rules.js';
import { currentAge, freshnessLifetime, initialAge } from './freshness.js';
import { storableInSharedCache } from './storable.js';
import { STORED_POLICY_VERSION, type StoredPolicy } from './stored-policy.js';

/** What RFC 9111 reads of the request a response answered (§3, §3.5). */
export interface RequestFacts {
  method: string;
  authorization: boolean;
  noStore: boolean;
}

const NO_OVERRIDES: readonly OverrideToken[] = [];

export class ResponsePolicy {
  /** The response's Cache-Control directives (the project's one parser). */
  readonly directives: ReadonlyMap<string, DirectiveValue>;
  /** RFC 9111 §3 (cache/storable.ts). */
  readonly storable: boolean;
  /** Freshness lifetime in seconds (RFC 9111 §4.2.1, cache/freshness.ts). */
  readonly lifetime: number;
  private readonly ageAtReceipt: number;

  /**
   * `fields`: the response fields as the rules read them (cache/response-fields.ts, then a crawl
   * rule's levers). `directives`: already parsed from the same Cache-Control, when the caller has them.
   * `overridden`: the crawl rule's override tokens that changed what the origin said (not stored).
   */
  constructor(
    readonly status: number,
    readonly fields: Readonly<Record<string, string>>,
    readonly request: Readonly<RequestFacts>,
    readonly receivedAt: number,
    directives?: ReadonlyMap<string, DirectiveValue>,
    readonly overridden: readonly OverrideToken[] = NO_OVERRIDES,
  ) {
    this.directives = directives ?? parseDirectives(fields['cache-control']);
    this.storable = storableInSharedCache({
      method: request.method,
      status,
      directives: this.directives,
      fields,
      authorization: request.authorization,
      requestNoStore: request.noStore,
    });
    this.lifetime = freshnessLifetime({ status, directives: this.directives, fields, storable: this.storable, receivedAt });
    this.ageAtReceipt = initialAge(fields);
  }

  /** Current age in seconds (RFC 9111 §4.2.3). */
  age(now: number): number {
    return currentAge(this.ageAtReceipt, this.receivedAt, now);
  }

  /** RFC 9111 §4.2: stale once its age reaches its freshness lifetime. */
  stale(now: number): boolean {
    return this.lifetime <= this.age(now);
  }

  /** The stored form; `withFields` false when the entry's stored headers are these fields (they are not kept twice). */
  toStored(withFields: boolean): StoredPolicy {
    // One literal with every key, so every stored policy has the same shape (undefined is left out of JSON).
    return {
      v: STORED_POLICY_VERSION,
      receivedAt: this.receivedAt,
      fields: withFields ? (this.fields as Record<string, string>) : undefined,
      authorization: this.request.authorization ? true : undefined,
      requestNoStore: this.request.noStore ? true : undefined,
    };
  }

  /**
   * The policy of a stored entry. `storedFields`: the entry's headers, flattened, used when the
   * stored policy has no fields of its own. Only GET (and HEAD) responses are ever stored.
   */
  static fromStored(stored: StoredPolicy, status: number, storedFields: () => Record<string, string>): ResponsePolicy {
    const request: RequestFacts = { method: 'GET', authorization: stored.authorization === true, noStore: stored.requestNoStore === true };
    return new ResponsePolicy(status, stored.fields ?? storedFields(), request, stored.receivedAt);
  }
}

// Builds the Cache-Status response field (RFC 9211). Steps add to it as the request moves
// through the pipeline; it is serialised once, when the response head is written.

export type ForwardReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale';

/** The detail tokens we emit, in one table so the docs (DETAIL_MEANING below) and the code agree. */
export const DETAIL = {
  storeUnavailable: 'store-unavailable', // the store failed or timed out: served uncached
  tooLarge: 'too-large', // the body exceeded --max-object-size: streamed, not stored
  unsafeMethod: 'unsafe-method', // POST/PUT/PATCH/DELETE…: forwarded, cache invalidated on success
  authorization: 'authorization', // request carries Authorization: never served from the shared cache
  range: 'range', // Range requests are forwarded, not served from cache
  staleIfError: 'stale-if-error', // the origin failed: a stale entry answered (RFC 5861)
  staleIfDisconnected: 'stale-if-disconnected', // the origin could not be reached: a stale entry answered (RFC 9111 §4.2.4)
  staleWhileRevalidate: 'stale-while-revalidate', // stale served, refreshed in the background (RFC 5861)
  notStorable: 'not-storable', // RFC 9111 §3 forbids storing the response
  varyStar: 'vary-star', // Vary: * is never served from cache
  headMiss: 'head-miss', // HEAD with nothing cached is forwarded as HEAD
  requestNoStore: 'request-no-store',
  requestBody: 'request-body', // GET/HEAD with a body: relayed with it, never looked up or stored
  setCookie: 'set-cookie', // sets a cookie without public / s-maxage: never shared, so not stored
  ruleNoStore: 'rule-no-store', // a crawl rule says store: false: forwarded as sent, nothing looked up or stored
  ruleStatus: 'rule-status', // the status is not in the crawl rule's `statuses`: relayed, not stored
  offline: 'offline', // --offline / offline: true: answered from the cache, fresh or stale, without the origin
  recorded: 'recorded', // --record / record: true: stored for replay whatever its freshness
  ruleOverride: 'rule-override', // stored or reused against the origin's word, because a crawl rule's `override` says so
} as const;

// What each token means: docs/reference/cache-status.md is generated from these two tables
// (`npm run docs`), so a token added above without its meaning fails the type-check.
export const DETAIL_MEANING = {
  storeUnavailable: 'the store failed or did not answer within `--store-timeout`: served uncached, nothing stored',
  tooLarge: 'the body exceeded `--max-object-size` (or what the memory store can hold): streamed through, not stored',
  unsafeMethod: 'POST, PUT, PATCH, DELETE or another unsafe method: forwarded, and the stored URL invalidated on success',
  authorization: 'the request carries `Authorization` and the entry is not marked shareable: forwarded as is',
  range: 'a `Range` request with nothing fresh stored: forwarded as sent, nothing stored',
  staleIfError: 'the origin failed or answered 5xx: a stale entry answered within `stale-if-error` (RFC 5861)',
  staleIfDisconnected: 'the origin could not be reached: a stale entry answered within `--serve-stale-if-disconnected` (RFC 9111 §4.2.4)',
  staleWhileRevalidate: 'a stale entry answered within `stale-while-revalidate` and refreshed in the background (RFC 5861)',
  notStorable: 'RFC 9111 §3 forbids storing the response (`no-store`, `private`, a status without explicit freshness that is not heuristically cacheable, …)',
  varyStar: 'the response has `Vary: *`: never served from the cache',
  headMiss: 'a `HEAD` with nothing stored: forwarded as `HEAD`',
  requestNoStore: 'the request says `Cache-Control: no-store`: forwarded, nothing looked up or stored',
  requestBody: 'a `GET` or `HEAD` with a body: relayed with it, never looked up or stored',
  setCookie: 'the response sets a cookie without `public` / `s-maxage`: never shared, so not stored',
  ruleNoStore: 'a crawl rule says `store: false`: forwarded as sent, nothing looked up or stored',
  ruleStatus: "the status is not in the crawl rule's `statuses`: relayed, not stored",
  offline: '`--offline` (or a rule\'s `offline: true`): answered from the cache, fresh or stale, without the origin',
  recorded: '`--record` (or a rule\'s `record: true`): stored for replay whatever its freshness',
  ruleOverride: "stored or reused against the origin's word, because a crawl rule's `override` says so",
} as const satisfies Record<keyof typeof DETAIL, string>;

/** The `fwd` reasons (RFC 9211 §2.2) and when this proxy gives each. */
export const FWD_MEANING = {
  'uri-miss': 'nothing usable was stored for the request (no entry, no matching variant, or one bound to other cookies): fetched from the origin',
  'vary-miss': 'part of RFC 9211, not given by this proxy (a missing variant is a `uri-miss`)',
  miss: 'part of RFC 9211, not given by this proxy',
  stale: 'the stored response was stale (or `no-cache`): revalidated with its own validators',
  request: "the client's request `Cache-Control` / `Pragma` sent it upstream (policy `honor`)",
  method: 'an unsafe method: forwarded without the cache',
  bypass: '`Authorization` against an entry not marked shareable, a `Range` with nothing fresh stored, a body on `GET`, or a crawl rule with `store: false`',
} as const satisfies Record<ForwardReason, string>;

export class CacheStatus {
  // Built as a string as the steps go: a hit costs a couple of concatenations, no arrays.
  private text: string;
  private details: string[] | undefined;
  private wasCollapsed = false;
  // What the metrics read in finish (observe/outcome.ts), kept beside the text so nothing parses it.
  private hitSeen = false;
  private forwarded: ForwardReason | undefined;
  private forwardedStatus: number | undefined;

  constructor(cacheName = 'etag-proxy') {
    this.text = cacheName;
  }

  hit(): this {
    this.text += '; hit';
    this.hitSeen = true;
    return this;
  }

  fwd(reason: ForwardReason): this {
    this.text += `; fwd=${reason}`;
    this.forwarded = reason;
    return this;
  }

  fwdStatus(status: number): this {
    this.text += `; fwd-status=${status}`;
    this.forwardedStatus = status;
    return this;
  }

  ttl(seconds: number): this {
    this.text += `; ttl=${seconds}`;
    return this;
  }

  stored(): this {
    this.text += '; stored';
    return this;
  }

  /** This request waited on another's fill instead of going upstream itself. */
  collapsed(): this {
    this.wasCollapsed = true;
    return this;
  }

  detail(token: string): this {
    this.details ??= [];
    if (!this.details.includes(token)) this.details.push(token);
    return this;
  }

  get isHit(): boolean {
    return this.hitSeen;
  }

  get forwardReason(): ForwardReason | undefined {
    return this.forwarded;
  }

  get forwardStatus(): number | undefined {
    return this.forwardedStatus;
  }

  get isCollapsed(): boolean {
    return this.wasCollapsed;
  }

  hasDetail(token: string): boolean {
    return this.details?.includes(token) ?? false;
  }

  toString(): string {
    let text = this.text;
    if (this.wasCollapsed) text += '; collapsed';
    if (this.details) text += `; detail=${this.details.join('+')}`;
    return text;
  }
}

// Tx: the per-request record every step reads and writes, named by side of the proxy
// (client*, origin*, entry) as Varnish names req / bereq / beresp / obj.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResponsePolicy } from '../cache/response-policy.js';
import { CacheStatus, type ForwardReason } from '../cache/cache-status.js';
import type { FillTicket } from '../cache/collapse.js';
import type { SemanticsRequest, Usability } from '../cache/semantics.js';
import type { ProxyError } from '../errors.js';
import type { OriginResponse } from '../http/origin-response.js';
import type { LogFields } from '../observe/log.js';
import type { ConditionalPlan } from '../policy/validators.js';
import type { ResolvedCrawlRule } from '../policy/crawl-rules.js';
import type { ClientIdentity, ClientPolicy } from '../policy/types.js';
import type { Entry, EntryAddress } from '../store/types.js';
import type { ProxyContext } from './context.js';

export interface Tx {
  readonly ctx: ProxyContext;
  readonly clientReq: IncomingMessage;
  readonly clientRes: ServerResponse;
  readonly startedAt: number;
  method: string;
  target?: URL;
  client?: ClientIdentity;
  policy?: ClientPolicy;
  /** The URL rules for crawls that apply to the target (policy/crawl-rules.ts). */
  rule?: ResolvedCrawlRule;
  /** A crawl rule stores this response for this client only (its id is part of the key). */
  perClient?: boolean;
  /** Answer only from the cache (URL rule, client rule or --offline). */
  offline?: boolean;
  /** Store every successful GET response for replay (URL rule or --record). */
  record?: boolean;
  conditionals?: ConditionalPlan;
  /** The request the cache policy is built with: built on demand by semanticsRequest() (recv.ts). */
  semanticsReq?: SemanticsRequest;
  /** The client's policy says requestCacheControl: ignore. */
  ignoreRequestCacheControl?: boolean;
  /** The request said Cache-Control: only-if-cached (and the policy honours it). */
  onlyIfCached?: boolean;
  urlKey?: string;
  entry?: Entry;
  /** Lets go of the store's hold on `entry`'s body (entry-hold.ts). */
  releaseEntry?: () => void;
  /** The entry this request stored (store.ts): finish compares it with `entry` for the change log. */
  storedEntry?: Entry;
  entryPolicy?: ResponsePolicy;
  /** The entry this request stores was kept against the origin's word by a crawl rule's `override`. */
  entryRuleOverride?: boolean;
  address?: EntryAddress;
  usability?: Usability;
  /** Why a stored entry goes upstream: it is stale, or the client's request asked (RFC 9211 fwd). */
  forwardReason?: ForwardReason;
  originRes?: OriginResponse;
  /** Fields of the origin's 304 that are not stored (Set-Cookie) but go on this client's answer ([name, value, …]). */
  ownLines?: string[];
  /** Did *we* put If-None-Match / If-Modified-Since on the origin request? (Varnish vcl_refresh_conditions) */
  sentValidators: boolean;
  fill?: Extract<FillTicket, { role: 'leader' }>;
  /** Set once this request has waited on another's fill, so it never waits twice. */
  waitedSince?: number;
  /** Skip the store on the way out (store unavailable, or not storable). */
  storeDown: boolean;
  error?: ProxyError;
  readonly status: CacheStatus;
  readonly log: LogFields;
}

export function createTx(ctx: ProxyContext, clientReq: IncomingMessage, clientRes: ServerResponse): Tx {
  return {
    ctx,
    clientReq,
    clientRes,
    startedAt: ctx.now(),
    method: clientReq.method ?? 'GET',
    sentValidators: false,
    storeDown: false,
    status: new CacheStatus(),
    log: {},
  };
}

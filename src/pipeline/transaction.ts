// Tx: the per-request record every step reads and writes, named by side of the proxy
// (client*, origin*, entry) as Varnish names req / bereq / beresp / obj. A background
// transaction (a stale-while-revalidate refresh) is one too, with a sink for its client.
import type { IncomingMessage } from 'node:http';
import type { ResponsePolicy } from '../cache/response-policy.js';
import { CacheStatus, type ForwardReason } from '../cache/cache-status.js';
import type { FillOutcome, FillTicket } from '../cache/collapse.js';
import type { SemanticsRequest, Usability } from '../cache/semantics.js';
import type { ProxyError } from '../errors.js';
import { NullClientResponse, type ClientResponse } from '../http/client-response.js';
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
  readonly clientRes: ClientResponse;
  readonly startedAt: number;
  /**
   * No client waits for this transaction: it refreshes an entry a client was already served
   * (stale-while-revalidate), its clientRes is a NullClientResponse and deliver answers nobody.
   */
  readonly background: boolean;
  /** lookup served this client a stale entry it may: the driver refreshes it in a background transaction. */
  refreshInBackground?: boolean;
  method: string;
  target?: URL;
  /** The target's `scheme://host[:port]`, as parsed with it (the same string for every request to it). */
  origin?: string;
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

export function createTx(ctx: ProxyContext, clientReq: IncomingMessage, clientRes: ClientResponse): Tx {
  return newTx(ctx, clientReq, clientRes, false, clientReq.method ?? 'GET');
}

/**
 * Every transaction is built here with every field present (undefined until a step sets it), in
 * one order: V8 then gives them all one hidden class, and each step's reads of `tx` stay
 * monomorphic whichever path set which fields (with fields added as they come, a step saw a
 * different shape per path and its property loads went megamorphic).
 */
function newTx(ctx: ProxyContext, clientReq: IncomingMessage, clientRes: ClientResponse, background: boolean, method: string): Tx {
  return {
    ctx,
    clientReq,
    clientRes,
    startedAt: ctx.now(),
    background,
    refreshInBackground: undefined,
    method,
    target: undefined,
    origin: undefined,
    client: undefined,
    policy: undefined,
    rule: undefined,
    perClient: undefined,
    offline: undefined,
    record: undefined,
    conditionals: undefined,
    semanticsReq: undefined,
    ignoreRequestCacheControl: undefined,
    onlyIfCached: undefined,
    urlKey: undefined,
    entry: undefined,
    releaseEntry: undefined,
    storedEntry: undefined,
    entryPolicy: undefined,
    entryRuleOverride: undefined,
    address: undefined,
    usability: undefined,
    forwardReason: undefined,
    originRes: undefined,
    ownLines: undefined,
    sentValidators: false,
    fill: undefined,
    waitedSince: undefined,
    storeDown: false,
    error: undefined,
    status: new CacheStatus(),
    log: {},
  };
}

/**
 * The background transaction that revalidates what `clientTx` was served: the same request as far
 * as the origin and the store are concerned (target, client identity, rules, the entry and its
 * address), a GET whatever the client sent, and nobody to answer. Its own hold on the entry's
 * body: the client's goes with its client, this one reads the entry later.
 */
export function createBackgroundTx(clientTx: Tx): Tx {
  const { ctx } = clientTx;
  const tx = newTx(ctx, clientTx.clientReq, new NullClientResponse(), true, 'GET');
  tx.target = clientTx.target;
  tx.origin = clientTx.origin;
  tx.client = clientTx.client;
  tx.policy = clientTx.policy;
  tx.rule = clientTx.rule;
  tx.record = clientTx.record;
  tx.semanticsReq = clientTx.semanticsReq;
  tx.ignoreRequestCacheControl = clientTx.ignoreRequestCacheControl;
  tx.urlKey = clientTx.urlKey;
  tx.entry = clientTx.entry;
  tx.entryPolicy = clientTx.entryPolicy;
  tx.address = clientTx.address;
  tx.usability = clientTx.usability;
  tx.forwardReason = 'stale';
  tx.releaseEntry = ctx.backend.entries.hold?.(clientTx.entry!);
  return tx;
}

/**
 * Release the fill this transaction leads (if any) and tell its followers `outcome`, once: the
 * transaction no longer holds it. Undefined when that is done at once (the memory store's lock).
 */
export function settleFill(tx: Tx, outcome: FillOutcome): Promise<void> | undefined {
  const fill = tx.fill;
  if (!fill) return undefined;
  tx.fill = undefined;
  return fill.finish(outcome);
}

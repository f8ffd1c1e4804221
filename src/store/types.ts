// The storage contracts the pipeline depends on. Each has a memory and a Redis implementation,
// and each is checked by one contract suite in test/contracts/ run against both.
// Every method resolves, or rejects with StoreUnavailable: nothing else escapes a store.
import type { StoredPolicy } from '../cache/stored-policy.js';

/**
 * EntryMeta's version. 2: the policy is this project's own StoredPolicy. 1 (http-cache-semantics'
 * toObject()) is never read: stores treat such an entry as absent (isCurrentMeta).
 */
export const ENTRY_META_VERSION = 2;

/** Is this metadata of the current version (an older proxy's entry reads as a miss)? */
export function isCurrentMeta(meta: { v?: unknown } | null | undefined): meta is EntryMeta {
  return meta?.v === ENTRY_META_VERSION;
}

/** Small, JSON-safe part of an entry; rewritten on every 304, the body never is. */
export interface EntryMeta {
  v: typeof ENTRY_META_VERSION;
  status: number;
  /** Response header fields as received (lower-case names), hop-by-hop fields removed. */
  headers: Record<string, string | string[]>;
  /** The cache policy's facts (cache/stored-policy.ts); rebuilt with semantics.policyOf(). */
  policy: StoredPolicy;
  etag?: string;
  lastModified?: string;
  storedAt: number;
  bodyLength: number;
  /** Which process wrote this metadata: `worker <id> (pid <pid>)` or `pid <pid>` (observe/process-name.ts). */
  storedBy?: string;
  /**
   * Invariant 2: unless the origin marked it shareable (public / s-maxage), the entry answers only
   * requests with the same cookies as the one it was made for: their digest, '' for none
   * (cache/keys.ts). Absent: shareable.
   */
  boundTo?: string;
  /** Stored only because a crawl rule overrode what the origin said (Cache-Status detail=rule-override). */
  ruleOverride?: true;
  /**
   * The URL this entry answers (storedUrl() in cache/entry.ts: no userinfo, secret query values
   * redacted), so purge by prefix or host can match it; the store keys are hashes (cache/keys.ts).
   * Absent in entries written before it was kept.
   */
  url?: string;
}

export interface Entry {
  meta: EntryMeta;
  body: Buffer;
}

/** Where a stored entry lives: the URL, and the variant chosen by the response's Vary. */
export interface EntryAddress {
  /** Normalised URL key (see cache/keys.ts). */
  url: string;
  /** Lower-case header names of the response's Vary, or null when it has none. */
  vary: string[] | null;
  /** Variant id computed from the request's values of `vary`; null when vary is null. */
  variant: string | null;
}

/** What a lookup finds: the entry and where it is stored. */
export type Found = { entry: Entry; address: EntryAddress };

export interface EntryStore {
  /**
   * One lookup for a URL. When the URL's entries vary, the store calls `variantOf` with the
   * stored Vary header names to learn which variant the request selects. A store that needs
   * no I/O (memory) answers synchronously, so a hit does not wait for a microtask.
   */
  lookup(url: string, variantOf: (vary: string[]) => string): Found | undefined | Promise<Found | undefined>;
  /** Store a whole entry (written at the end of the body, never partially). */
  put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void>;
  /**
   * A 304 refreshed the entry: rewrite the metadata and TTL, keep the body. No-op if it is gone.
   * `fill`: the fill lock the caller holds for the entry and releases right after. A store may
   * release it in the same write instead (Redis: one script), which leaves its release() nothing
   * to do; followers must never see the lock gone before the new metadata.
   * `revalidated`: the entry (as this store's lookup returned it) the 304 was about. When the
   * address holds another body by now, the store leaves it alone: the 304's fields (ETag,
   * Content-Length) belong to the old body.
   * A store in this process may write at once (void): nothing to wait for.
   */
  refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number, fill?: FillLock, revalidated?: Entry): Promise<void> | void;
  /** Remove the URL's entry and every variant of it. */
  invalidate(url: string): Promise<void>;
  /** Every stored variant of a URL key, with its size and time left in the store (GET /cache). Optional: wrappers and test doubles may lack it; both stores have it (contract). */
  variants?(url: string): Promise<StoredVariant[]>;
  /**
   * One page of this store's URL entries (purge by prefix or host): start with cursor "0"; the
   * walk is over when the returned cursor is "0" again. A URL may come twice; none is missed
   * that was stored for the whole walk. Redis walks with SCAN, never KEYS.
   */
  scanPage?(cursor: string, count: number): Promise<{ cursor: string; entries: ScannedEntry[] }>;
  /**
   * The largest body this store can keep beside header fields like `headers` (those of the
   * origin's response, a superset of what is stored), or undefined for no limit short of
   * --max-object-size. A body over it is never buffered for the store (memory: --cache-size).
   */
  maxBodyBytes?(headers: Readonly<Record<string, string | string[] | undefined>>): number;
  /** What this process holds against --cache-size (for the metrics), read synchronously. */
  usage?(): StoreUsage;
  /**
   * Keep the bytes of `entry.body` (as this store's lookup returned it) unchanged until the
   * returned function is called. A store whose bodies are views into memory it reuses (memory:
   * the page pool) needs it; one that hands out bodies of their own may lack it. Whoever keeps an
   * entry past the current tick, or hands its body to a socket, holds it until the bytes are sent.
   */
  hold?(entry: Entry): () => void;
  /**
   * Room for a body of known length, written as it arrives and handed to put() as the entry's
   * body, which then keeps those bytes without copying them. Undefined when the store has none to
   * offer (the caller then keeps the body in a buffer of its own, as for any store).
   */
  reserveBody?(length: number): ReservedBody | undefined;
  close(): Promise<void>;
}

/** Room a store lent for a body (EntryStore.reserveBody). */
export interface ReservedBody {
  /** Exactly the length asked for. */
  readonly body: Buffer;
  /** Call once, always, after the put (or instead of it): the bytes go back unless put() kept them. */
  release(): void;
}

export interface StoredVariant {
  address: EntryAddress;
  meta: EntryMeta;
  /** Bytes of the stored record (meta and body). */
  bytes: number;
  /** Milliseconds until the store drops it; undefined when unknown. */
  expiresInMs?: number;
}

/** A URL key found by scanPage, and the URL its entries answer (from the entry's meta). */
export interface ScannedEntry {
  url: string;
  href?: string;
}

/** Records held against --cache-size: the memory store, the near cache before Redis, or the disk store (every process's). */
export interface StoreUsage {
  store: 'memory' | 'near-cache' | 'disk';
  entries: number;
  bytes: number;
  /** Records evicted by this process since it started (disk store). */
  evictions?: number;
  /** Size of the store's file on disk (disk store). */
  fileBytes?: number;
}

/** What a guarded store reports about each call (store/guarded.ts → observe/metrics.ts). */
export interface StoreObserver {
  call(op: string, seconds: number, ok: boolean): void;
  breaker(open: boolean): void;
}

export interface FillLock {
  /**
   * Resolves at once when the lock is already released (also by EntryStore.refresh). A lock in
   * this process may be released at once (void): nothing to wait for.
   */
  release(): Promise<void> | void;
  /**
   * Extend the lock to `ttlMs` from now, if this holder still has it: false once it expired or
   * was released. The holder renews a short lease while its fill runs, so a holder that dies
   * (SIGKILL, a lost host) frees the key within one lease.
   */
  renew(ttlMs: number): Promise<boolean>;
  /** True once released, when the store can tell (a Redis refresh releases its lock along). */
  readonly released?: boolean;
}

/** Cross-worker request collapsing: at most one holder of a key's fill lock at a time. */
export interface Coordination {
  /**
   * Take the fill lock for `key` for `ttlMs` (a lease: see FillLock.renew), or null when another
   * holder has it. A store in this process may answer at once (the memory store); callers take both.
   */
  acquireFill(key: string, ttlMs: number): Promise<FillLock | null> | FillLock | null;
  /** Whether some holder currently has the fill lock for `key`. */
  isFilling(key: string): Promise<boolean>;
}

/** What the `isolate` policy remembers: which validators this proxy served to which client. */
export interface ValidatorLedger {
  recordServed(client: string, key: string, validator: string, ttlMs: number): Promise<void>;
  wasServed(client: string, key: string, validator: string): Promise<boolean>;
}

/** Policy rules shared by the fleet; a change reaches every subscriber. */
export interface RuleStore<Rules> {
  load(): Promise<Rules | undefined>;
  save(rules: Rules): Promise<void>;
  onChange(listener: (rules: Rules) => void): () => void;
  close(): Promise<void>;
}

/** One side of a change: what identified a representation of the URL. */
export interface RepresentationId {
  etag: string | null;
  lastModified: string | null;
  /** `sha-256=:<base64>:` (RFC 9530 Repr-Digest form): the origin's, or computed from the body. */
  digest: string;
}

/** The proxy learned a new representation of a URL (observe/changes.ts). */
export interface ChangeEvent {
  /** Ordered fleet-wide; the SSE id (Last-Event-ID). Assigned by the ChangeLog. */
  id: string;
  time: number;
  url: string;
  old: RepresentationId;
  new: RepresentationId;
  /** Body bytes of the new representation. */
  size: number;
  /** Client id whose request found it ("watch": the proxy's own --watch). */
  client: string | null;
  /** Present when a field was longer than its bound and was cut, ending in "…" (store/change-bounds.ts). */
  truncated?: true;
}

/** What a URL's revalidations found when nothing changed: no event, a count and a time. */
export interface CheckSummary {
  /** When a revalidation last reached the origin for the URL (unchanged or changed), or null. */
  lastChecked: number | null;
  /** Revalidations that found it unchanged (a 304, or a 200 with the same representation). */
  unchanged: number;
}

/** A bounded history of changes, per URL and fleet-wide. */
export interface ChangeLog {
  append(event: Omit<ChangeEvent, 'id'>, urlKey: string): Promise<ChangeEvent>;
  /** The URL's latest changes, oldest first (at most the per-URL bound). */
  history(urlKey: string): Promise<ChangeEvent[]>;
  /** Fleet-wide changes after `afterId` ("0": from the oldest kept), oldest first, at most `limit`. */
  after(afterId: string, limit: number): Promise<ChangeEvent[]>;
  /** The first id whose time is at or after `time` (for ?since=<time>), as an `after` cursor. */
  cursorAt(time: number): Promise<string>;
  /** The newest event's id ("0" when there is none): a stream's start that no clock skew can shift. */
  latest(): Promise<string>;
  /** A revalidation found the URL unchanged: count it and move its last-checked time (append moves it too). */
  /**
   * `count` unchanged revalidations (1 unless gathered, see coalesced-checks.ts), the latest at `time`.
   * Nothing to wait for (void) when counted at once in this process, as coalesced-checks.ts does.
   */
  checkedUnchanged(urlKey: string, time: number, count?: number): Promise<void> | void;
  checks(urlKey: string): Promise<CheckSummary>;
  /**
   * Call `listener` when an event may have been appended (by this process or, through the store,
   * by another), with its id when known, or without one when some may have been missed (a
   * reconnect). A nudge only: the listener reads `after` itself. Costs nothing while nothing is
   * appended. Returns the function that stops it.
   */
  watch(listener: (id?: string) => void): () => void;
}

/** Everything a proxy needs from its storage backend. */
export interface Backend<Rules = unknown> {
  kind: 'memory' | 'redis' | 'disk';
  entries: EntryStore;
  coordination: Coordination;
  ledger: ValidatorLedger;
  rules: RuleStore<Rules>;
  /** ETag change history (observe/changes.ts); absent in backends that keep none. */
  changes?: ChangeLog;
  /** Report every store call and breaker change to `observer` (guarded stores only). */
  instrument?(observer: StoreObserver): void;
  close(): Promise<void>;
}

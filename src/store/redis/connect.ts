// The one place that creates node-redis connections for the Redis backend: a command connection
// (bulk strings as Buffers, offline queue off, capped reconnect backoff) and a separate subscriber
// connection for pub/sub. Both are usable while Redis is down and recover when it returns.
// Deadlines, the breaker and "store down/up" lines live in store/guarded.ts, not here.
import { createClient, createCluster, RESP_TYPES } from '@redis/client';
import type { Logger } from '../../observe/log.js';
import { parseClusterUrl, type ClusterSeeds } from './url.js';

export { parseClusterUrl } from './url.js';

export type RedisArg = string | Buffer;

/** A connection shared by entry-store.ts and coordination.ts; replies are loosely typed on purpose. */
export interface RedisConnection {
  /** One command; in a cluster it is routed by `key`. Bulk strings come back as Buffers. */
  command(key: string, args: RedisArg[]): Promise<unknown>;
  /** MULTI/EXEC in one round trip. Every key touched must share `key`'s slot (a hash tag). */
  transaction(key: string, commands: RedisArg[][]): Promise<unknown[]>;
  /** Several commands in one write and one round trip, not atomic; same slot rule as above. */
  pipeline(key: string, commands: RedisArg[][]): Promise<unknown[]>;
  /**
   * One SCAN step over keys matching `match` (a glob), COUNT `count`; "0" starts and ends the
   * walk. In a cluster the cursor also names the master being walked ("<node>:<cursor>").
   */
  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }>;
  /**
   * Subscribe on the subscriber connection. Never fails: while Redis is down the subscription
   * waits for it, and after a reconnect it is made again. `onSubscribed` runs each time it is
   * (re)established, so the caller can read what it missed meanwhile.
   */
  subscribe(channel: string, listener: (message: string) => void, onSubscribed: () => void): void;
  /** Called each time the command connection (re)connects: a hint that a probe may succeed. */
  onReady(listener: () => void): void;
  /** Settles on the first connection attempt's outcome (ready or failed), never rejects. */
  readonly firstAttempt: Promise<void>;
  /** Whether the command connection is up now. */
  readonly ready: boolean;
  /** Why the last connection attempt failed, for the log; undefined once connected. */
  readonly lastError: string | undefined;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /**
   * `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), or a Redis Cluster seed list as
   * `redis+cluster://[user:pass@]host1:port1,host2:port2` (`rediss+cluster://` for TLS). The seed
   * nodes are only used to discover the slot map; listing one reachable node is enough.
   */
  url: string;
  logger: Logger;
  connectTimeoutMs?: number;
}

// Capped exponential backoff with a little jitter so a fleet of workers does not reconnect in step.
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 2000;
export function reconnectDelayMs(retries: number): number {
  const base = Math.min(BACKOFF_FIRST_MS * 2 ** Math.min(retries, 16), BACKOFF_MAX_MS);
  return Math.round(base * (0.9 + Math.random() * 0.2));
}

// A connection that stops answering without closing (partition, SIGSTOP) is found by the PINGs
// plus the idle timeout, then closed and reconnected; otherwise it could stay "ready" for minutes.
const PING_INTERVAL_MS = 1000;
const SOCKET_IDLE_TIMEOUT_MS = 5000;

const BUFFER_REPLIES = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
// sendCommand() reads the options of the client it was created from, not those of a
// withTypeMapping() view, so the mapping is also passed on each call.
const BUFFER_OPTIONS = { typeMapping: BUFFER_REPLIES };

export function connectRedis(options: ConnectOptions): RedisConnection {
  const cluster = parseClusterUrl(options.url);
  return cluster ? connectCluster(cluster, options) : connectSingle(options);
}

function socketOptions(options: ConnectOptions, forCommands: boolean) {
  return {
    connectTimeout: options.connectTimeoutMs ?? 2000,
    reconnectStrategy: (retries: number) => reconnectDelayMs(retries),
    ...(forCommands ? { socketTimeout: SOCKET_IDLE_TIMEOUT_MS } : {}),
  };
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function connectSingle(options: ConnectOptions): RedisConnection {
  const { logger } = options;
  const base = createClient({
    url: options.url,
    disableOfflineQueue: true,
    pingInterval: PING_INTERVAL_MS,
    socket: socketOptions(options, true),
  });
  // No idle timeout (nor PINGs) on the subscriber: it is silent between rule changes by design,
  // and a subscription lost to a half-dead socket costs only a late change (rules are re-read
  // whenever the command connection comes back, see coordination.ts).
  const subscriber = createClient({ url: options.url, disableOfflineQueue: true, socket: socketOptions(options, false) });
  const client = base.withTypeMapping(BUFFER_REPLIES);

  // Trap 4: one listener each, attached here and never per request. Without an 'error' listener
  // node-redis errors would crash the process; the state change itself is logged by guarded.ts.
  let settleFirst: () => void = () => {};
  const firstAttempt = new Promise<void>((resolve) => (settleFirst = resolve));
  let lastError: string | undefined;
  base.on('error', (err: unknown) => {
    lastError = describeError(err);
    settleFirst();
    logger.debug('redis connection error', { error: lastError });
  });
  subscriber.on('error', (err: unknown) => logger.debug('redis subscriber error', { error: describeError(err) }));
  const readyListeners: Array<() => void> = [];
  base.on('ready', () => {
    lastError = undefined;
    settleFirst();
    for (const listener of readyListeners) listener();
  });
  // connect() keeps retrying until Redis answers, so it is never awaited: creation must not block.
  base.connect().catch((err: unknown) => logger.debug('redis connect stopped', { error: describeError(err) }));
  subscriber.connect().catch((err: unknown) => logger.debug('redis subscriber connect stopped', { error: describeError(err) }));
  // node-redis restores a subscription it made before its 'ready'; one that failed (Redis down
  // at start) is made again here.
  const subscriptions = new Subscriptions((channel, listener) => subscriber.subscribe(channel, (message: string) => listener(message)), logger);
  subscriber.on('ready', () => subscriptions.connected());

  return {
    command: (_key, args) => client.sendCommand(args, BUFFER_OPTIONS),
    transaction: async (_key, commands) => {
      const multi = client.multi();
      for (const args of commands) multi.addCommand(args);
      return multi.exec();
    },
    pipeline: async (_key, commands) => {
      const multi = client.multi();
      for (const args of commands) multi.addCommand(args);
      return multi.execAsPipeline();
    },
    scan: async (cursor, match, count) => scanReply(await client.sendCommand(['SCAN', cursor, 'MATCH', match, 'COUNT', String(count)], BUFFER_OPTIONS)),
    subscribe: (channel, listener, onSubscribed) => subscriptions.add(channel, listener, onSubscribed),
    onReady: (listener) => readyListeners.push(listener),
    firstAttempt,
    get ready() {
      return base.isReady;
    },
    get lastError() {
      return lastError;
    },
    close: async () => {
      readyListeners.length = 0;
      subscriptions.close();
      await Promise.allSettled([closeClient(base), closeClient(subscriber)]);
    },
  };
}

interface Subscription {
  listener: (message: string) => void;
  onSubscribed: () => void;
  state: 'wanted' | 'subscribing' | 'subscribed';
}

/** The channels this process listens on, and which of them the server knows of yet. */
class Subscriptions {
  private readonly channels = new Map<string, Subscription>();
  private closed = false;

  constructor(
    private readonly subscribe: (channel: string, listener: (message: string) => void) => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  add(channel: string, listener: (message: string) => void, onSubscribed: () => void): void {
    const subscription: Subscription = { listener, onSubscribed, state: 'wanted' };
    this.channels.set(channel, subscription);
    this.attempt(channel, subscription);
  }

  /** The connection is (again) ready: made subscriptions were restored, failed ones are retried. */
  connected(): void {
    for (const [channel, subscription] of this.channels) {
      if (subscription.state === 'subscribed') subscription.onSubscribed();
      else this.attempt(channel, subscription);
    }
  }

  close(): void {
    this.closed = true;
    this.channels.clear();
  }

  private attempt(channel: string, subscription: Subscription): void {
    if (subscription.state !== 'wanted' || this.closed) return;
    subscription.state = 'subscribing';
    this.subscribe(channel, subscription.listener).then(
      () => {
        subscription.state = 'subscribed';
        if (!this.closed) subscription.onSubscribed();
      },
      (err: unknown) => {
        subscription.state = 'wanted';
        this.logger.debug('redis subscribe failed; tried again when the connection is ready', { channel, error: describeError(err) });
      },
    );
  }
}

function scanReply(reply: unknown): { cursor: string; keys: string[] } {
  const [next, keys] = reply as [Buffer, Buffer[]];
  return { cursor: next.toString(), keys: keys.map((key) => key.toString()) };
}

async function closeClient(client: { close(): Promise<void>; destroy(): void; isOpen: boolean }): Promise<void> {
  if (!client.isOpen) return;
  // close() waits for pending replies; a half-dead server must not hold shutdown hostage.
  const timer = setTimeout(() => client.isOpen && client.destroy(), 1000);
  try {
    await client.close();
  } finally {
    clearTimeout(timer);
  }
}

function connectCluster(seeds: ClusterSeeds, options: ConnectOptions): RedisConnection {
  const { logger } = options;
  const scheme = seeds.tls ? 'rediss' : 'redis';
  const base = createCluster({
    rootNodes: seeds.nodes.map((node) => ({ url: `${scheme}://${node.host}:${node.port}` })),
    defaults: {
      ...(seeds.username ? { username: seeds.username } : {}),
      ...(seeds.password ? { password: seeds.password } : {}),
      disableOfflineQueue: true,
      pingInterval: PING_INTERVAL_MS,
      socket: socketOptions(options, true),
    },
  });
  const cluster = base.withTypeMapping(BUFFER_REPLIES);
  base.on('error', (err: unknown) => logger.debug('redis cluster error', { error: describeError(err) }));
  base.on('node-error', (err: unknown) => logger.debug('redis cluster node error', { error: describeError(err) }));

  const readyListeners: Array<() => void> = [];
  // The cluster client keeps its own pub/sub connection and restores it; a subscription that
  // failed is tried again whenever a node (re)connects.
  const subscriptions = new Subscriptions((channel, listener) => cluster.subscribe(channel, (message: string) => listener(message)), logger);
  const announceReady = () => {
    for (const listener of readyListeners) listener();
    if (connected) subscriptions.connected();
  };
  base.on('node-ready', announceReady);

  // Unlike a single client, a cluster's connect() gives up when no seed answers: retry it here
  // with the same backoff, in the background, so the backend can start while Redis is down.
  let connected = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let whenConnected: () => void = () => {};
  const connectedOnce = new Promise<void>((resolve) => (whenConnected = resolve));
  let settleFirst: () => void = () => {};
  const firstAttempt = new Promise<void>((resolve) => (settleFirst = resolve));
  let lastError: string | undefined;
  const attempt = (retries: number): void => {
    base.connect().then(
      () => {
        connected = true;
        lastError = undefined;
        settleFirst();
        whenConnected();
        announceReady();
      },
      (err: unknown) => {
        lastError = describeError(err);
        settleFirst();
        logger.debug('redis cluster connect failed', { error: lastError, retries });
        if (!closed) retryTimer = setTimeout(() => attempt(retries + 1), reconnectDelayMs(retries));
      },
    );
  };
  attempt(0);

  const notConnected = () => Promise.reject(new Error('redis cluster: slot map not discovered yet (no seed node answered)'));
  return {
    command: (key, args) => (connected ? cluster.sendCommand(key, false, args, BUFFER_OPTIONS) : notConnected()),
    transaction: async (key, commands) => {
      if (!connected) return notConnected();
      const multi = cluster.multi(key);
      for (const args of commands) multi.addCommand(key, false, args);
      return multi.exec();
    },
    pipeline: async (key, commands) => {
      if (!connected) return notConnected();
      const multi = cluster.multi(key);
      for (const args of commands) multi.addCommand(key, false, args);
      return multi.execAsPipeline();
    },
    // SCAN sees one node's keys: walk each master in turn (the cursor carries which one).
    scan: async (cursor, match, count) => {
      if (!connected) return notConnected();
      const [nodeText, nodeCursor] = cursor === '0' ? ['0', '0'] : cursor.split(':');
      const masters = cluster.masters;
      const index = Number(nodeText);
      const master = masters[index];
      if (!master) return { cursor: '0', keys: [] };
      const client = await cluster.nodeClient(master);
      const page = scanReply(await client.sendCommand(['SCAN', nodeCursor ?? '0', 'MATCH', match, 'COUNT', String(count)], BUFFER_OPTIONS));
      if (page.cursor !== '0') return { cursor: `${index}:${page.cursor}`, keys: page.keys };
      return { cursor: index + 1 < masters.length ? `${index + 1}:0` : '0', keys: page.keys };
    },
    subscribe: (channel, listener, onSubscribed) => void connectedOnce.then(() => subscriptions.add(channel, listener, onSubscribed)),
    onReady: (listener) => readyListeners.push(listener),
    firstAttempt,
    get ready() {
      return connected;
    },
    get lastError() {
      return lastError;
    },
    close: async () => {
      closed = true;
      clearTimeout(retryTimer);
      readyListeners.length = 0;
      subscriptions.close();
      if (!connected) return;
      const timer = setTimeout(() => base.destroy(), 1000);
      try {
        await base.close();
      } catch {
        // already closed or destroyed by the timer
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

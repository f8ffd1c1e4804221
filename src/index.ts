// Public API: createProxy(config) → { listen, close }, used by the CLI, the tests and anyone
// embedding the proxy. Wires config, store, RFC engine, upstream agent and policies together.
import { NoVarySearchHints } from './cache/no-vary-search.js';
import cluster from 'node:cluster';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Collapser } from './cache/collapse.js';
import { createSemantics } from './cache/semantics.js';
import type { ProxyConfig } from './config/types.js';
import { ConfigError } from './errors.js';
import { isLoopbackHost, isThisHost } from './guard/address-ranges.js';
import { Guard } from './guard/guard.js';
import { upstreamTrust } from './http/upstream-tls.js';
import { createLogger, type Logger } from './observe/log.js';
import { ParentRouter } from './parents/router.js';
import { MeteredUpstream } from './observe/metered-upstream.js';
import { ProxyMetrics } from './observe/metrics.js';
import type { ProxyContext } from './pipeline/context.js';
import { LivePolicyEngine } from './policy/engine.js';
import type { StoredPolicies } from './policy/stored-rules.js';
import { drainServer, type Draining } from './server/drain.js';
import { createProxyServer, listen } from './server/proxy-server.js';
import { withStorePassword } from './config/secrets.js';
import { createClusterMemoryBackend } from './store/cluster/worker-backend.js';
import { createMemoryBackend } from './store/memory/backend.js';
import { CaError, defaultCaDir, loadCa } from './tls/ca.js';
import type { Interceptor } from './tls/interceptor.js';
import type { Backend } from './store/types.js';
import { coalesceChecks } from './store/coalesced-checks.js';

export type { ProxyConfig } from './config/types.js';
export { defaultConfig } from './config/defaults.js';

export interface ProxyOptions {
  /** The clock every freshness decision reads (tests pass a fake). */
  now?: () => number;
  logger?: Logger;
  /** Use this backend instead of building one from config.store (shared by tests). */
  backend?: Backend<StoredPolicies>;
}

export interface CloseOptions {
  /**
   * How long responses and tunnels in flight may run before they are cut. 0 (the default) cuts
   * them at once, as tests want; the CLI passes --shutdown-timeout. New connections are refused
   * and idle keep-alive connections closed either way.
   */
  drainTimeoutMs?: number;
}

export interface Proxy {
  readonly ctx: ProxyContext;
  readonly server: http.Server;
  readonly policies: LivePolicyEngine;
  listen(port?: number, host?: string): Promise<AddressInfo & { url: string }>;
  /**
   * Stop, then release the upstream agent, the rule feed and the store (when the proxy built it).
   * A second call while draining can only bring the deadline forward (a second signal: 0).
   * Connections the deadline cut are counted in one warning line.
   */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * A fill lock's lease: how long a worker that died mid-fill keeps other workers waiting for its
 * URL. Renewed every third of it (one store call per fill that lasts longer), so a store call
 * may be slow twice before a live leader loses it; losing it costs a duplicate fetch, not an error.
 */
export const FILL_LEASE_MS = 2000;

const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0']);

export async function createBackend(config: ProxyConfig, now: () => number, logger: Logger): Promise<Backend<StoredPolicies>> {
  return withCoalescedChecks(await openBackend(config, now, logger));
}

/** Unchanged revalidations are counted once a second per URL, not written one by one (coalesced-checks.ts). */
function withCoalescedChecks<Rules>(backend: Backend<Rules>): Backend<Rules> {
  if (!backend.changes) return backend;
  const changes = coalesceChecks(backend.changes);
  // A plain copy with two fields replaced: every backend is a plain object of fields set once (store/*/backend.ts).
  return {
    ...backend,
    changes,
    close: async () => {
      await changes.flush();
      await backend.close();
    },
  };
}

async function openBackend(config: ProxyConfig, now: () => number, logger: Logger): Promise<Backend<StoredPolicies>> {
  if (config.store === 'memory') {
    // --workers with the memory store: a cache per worker, the shared state in the primary (store/cluster/).
    if (config.workers > 1 && cluster.isWorker) {
      return createClusterMemoryBackend<StoredPolicies>({ cacheSizeBytes: config.cacheSizeBytes, storeTimeoutMs: config.storeTimeoutMs, logger, now });
    }
    return createMemoryBackend<StoredPolicies>({ cacheSizeBytes: config.cacheSizeBytes, now });
  }
  if (config.store.startsWith('disk:')) {
    // Every worker opens the same directory: one cache per host (LMDB's locks, store/disk/).
    const { createDiskBackend } = await import('./store/disk/backend.js');
    return createDiskBackend<StoredPolicies>({ dir: config.store.slice('disk:'.length), cacheSizeBytes: config.cacheSizeBytes, storeTimeoutMs: config.storeTimeoutMs, logger, now });
  }
  const { createRedisBackend } = await import('./store/redis/backend.js');
  // --cache-size bounds the in-process near cache in front of Redis (per worker).
  return createRedisBackend<StoredPolicies>({
    // The password joins the URL only here, so config.store (which is logged) never holds it.
    url: config.storePassword === undefined ? config.store : withStorePassword('store', config.store, config.storePassword),
    namespace: config.namespace,
    storeTimeoutMs: config.storeTimeoutMs,
    nearCacheBytes: config.cacheSizeBytes,
    logger,
  });
}

/** --intercept: the CA is loaded at start, so a missing one stops the proxy with the command that makes it. */
async function createInterceptor(config: ProxyConfig, now: () => number, logger: Logger): Promise<Interceptor | undefined> {
  if (config.intercept === false || (Array.isArray(config.intercept) && !config.intercept.length)) return undefined;
  try {
    const ca = await loadCa(config.caDir ?? defaultCaDir());
    const { Interceptor } = await import('./tls/interceptor.js');
    return new Interceptor({ ca, intercept: config.intercept, passthrough: config.passthrough, now, logger });
  } catch (error) {
    if (error instanceof CaError) throw new ConfigError(`--intercept: ${error.message}`);
    throw error;
  }
}

export async function createProxy(config: ProxyConfig, options: ProxyOptions = {}): Promise<Proxy> {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? createLogger(config.logLevel, undefined, { accessLog: config.accessLog });
  // Files named by the config are read first: a missing CA or --upstream-ca fails before Redis is touched.
  const interceptor = await createInterceptor(config, now, logger);
  const trust = upstreamTrust(config);
  const ownsBackend = !options.backend;
  const backend = options.backend ?? (await createBackend(config, now, logger));
  const policies = new LivePolicyEngine(config, logger);
  await policies.follow(backend.rules);
  const guard = new Guard(config);
  const metrics = new ProxyMetrics({ topHosts: config.metricsTopHosts, usage: () => backend.entries.usage?.() });
  backend.instrument?.(metrics);
  const parents = config.parents.pools.length ? new ParentRouter(config.parents, now) : undefined;
  if (parents) metrics.watchParents(parents);
  if (parents) logger.info('parent proxies', { pools: config.parents.pools.map((pool) => `${pool.name}: ${pool.parents.map((p) => p.label).join(' ')}`).join('; '), default: config.parents.default });
  const upstream = new MeteredUpstream(
    { timeoutMs: config.upstreamTimeoutMs, guard, tls: trust, maxSockets: config.originConnections, perClient: config.originConnectionsPerClient, ...(parents && { parents }) },
    metrics,
  );
  if (config.insecureUpstream) logger.warn('--insecure-upstream: HTTPS origin certificates are NOT verified; anyone on the path to an origin can forge its answers');
  let listening: AddressInfo | undefined;

  const ctx: ProxyContext = {
    config,
    now,
    logger,
    metrics,
    backend,
    semantics: createSemantics(now, { targetedCacheControl: config.targetedCacheControl }),
    upstream,
    guard,
    // A live leader may fill for as long as the slowest origin we wait for; a dead one stops
    // renewing its lease and frees the key within FILL_LEASE_MS.
    collapser: new Collapser(backend.coordination, { leaseMs: FILL_LEASE_MS, maxWaitMs: config.upstreamTimeoutMs + 1000 }),
    policies,
    background: new Set(),
    noVarySearch: new NoVarySearchHints(),
    isSelf(url) {
      if (!listening) return false;
      // The port first: it rules out nearly every request without building strings.
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
      if (port !== listening.port) return false;
      const host = url.hostname.toLowerCase();
      if (LOCAL_NAMES.has(host) || host === config.host || host === listening.address) return true;
      // Any literal form of this host's addresses (127.1, [::ffff:127.0.0.1], an interface address).
      const bare = host.replace(/^\[|\]$/g, '');
      return net.isIP(bare) !== 0 && isThisHost(bare);
    },
  };
  const { server, connections } = createProxyServer(ctx, interceptor);
  let draining: Draining | undefined;
  let closed: Promise<void> | undefined;

  return {
    ctx,
    server,
    policies,
    async listen(port = config.port, host = config.host) {
      listening = await listen(server, port, host);
      guard.proxyListening(host, listening.port);
      if (!isLoopbackHost(host) && !config.allowClients.length && !config.identity.requireAuth) {
        logger.warn('listening beyond loopback with neither --allow nor --require-auth: anyone who can reach this address can use the proxy', {
          host,
          port: listening.port,
        });
      }
      const shownHost = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;
      return { ...listening, url: `http://${shownHost}:${listening.port}` };
    },
    close({ drainTimeoutMs = 0 } = {}) {
      if (draining) {
        draining.hurry(drainTimeoutMs);
        return closed!;
      }
      const drain = (draining = drainServer(server, drainTimeoutMs, connections));
      closed = (async () => {
        const { cut } = await drain.done;
        if (cut > 0 && drainTimeoutMs > 0) logger.warn('cut connections still in flight', { cut });
        const background = Promise.allSettled([...ctx.background]);
        // Draining, a background revalidation gets what is left of the deadline; then the
        // upstream agent is closed under it. A forced close waits for it, as it always did.
        if (drainTimeoutMs > 0) await Promise.race([background, new Promise((resolve) => setTimeout(resolve, drain.remainingMs()).unref())]);
        else await background;
        upstream.close();
        await background;
        await policies.close();
        // A store that cannot close in time (Redis unreachable) must not stop the shutdown.
        if (ownsBackend) await backend.close().catch((error: unknown) => logger.warn('store did not close cleanly', { error: (error as Error).message }));
      })();
      return closed;
    },
  };
}

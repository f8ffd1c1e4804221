// `etag-proxy [serve]`: config → one proxy, or N workers (node:cluster) on one port; the start-up
// line; graceful shutdown on SIGTERM / SIGINT (see shutdown.ts). Exit codes: 2 for bad
// configuration, 1 when the proxy cannot start, 0 after a shutdown.
import cluster from 'node:cluster';
import type { OptionName } from '../config/options.js';
import { loadConfig } from '../config/load.js';
import type { ProxyConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { Proxy } from '../index.js';
import { openLogDestination, type LogDestination } from '../observe/log-destination.js';
import { createLogger, type Logger } from '../observe/log.js';
import { redactUrl } from '../observe/redact.js';
import type { RulesAtStart } from '../policy/engine.js';
import type { PolicyRules } from '../policy/rules.js';
import type { AdminServer } from '../admin/admin-server.js';
import type { Watcher } from '../observe/watch.js';
import { fatal } from './fatal.js';
import { onStopRequest, stopWorkers, type StopRequest } from './shutdown.js';
import { sendOver, sendToPrimary } from '../ipc-send.js';

/** Start-up lines list at most this many rules; the rest are counted. */
const RULES_SHOWN = 10;

export async function serve(flags: Partial<Record<OptionName, unknown>> & { config?: unknown }): Promise<void> {
  let config: ProxyConfig;
  try {
    config = loadConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) fatal(2, error.message);
    throw error;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    await startPrimary(config);
    return;
  }
  await startWorker(config, flags.config !== undefined);
}

/** The CLI's logger: stdout or --log-file; SIGHUP reopens the file (and, in the primary, the workers'). */
function cliLogger(config: ProxyConfig): { logger: Logger; destination: LogDestination } {
  let destination: LogDestination;
  try {
    destination = openLogDestination(config.logFile);
  } catch (error) {
    if (error instanceof ConfigError) fatal(2, error.message);
    throw error;
  }
  if (destination.file !== undefined) {
    process.on('SIGHUP', () => {
      destination.reopen();
      if (cluster.isPrimary) for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    });
  }
  return { logger: createLogger(config.logLevel, destination.write, { accessLog: config.accessLog }), destination };
}

/** How long a clean exit waits for the log's last lines to be written. */
const LOG_DRAIN_MS = 1000;

/** A clean exit: the last log lines written (in order, no fsync), then at once. */
async function exitWhenLogged(destination: LogDestination, code: number): Promise<never> {
  await destination.drained(LOG_DRAIN_MS);
  process.exit(code);
}

// The proxy's modules are imported once the configuration is known to be good, and only where
// they run: a bad flag costs no more than --help, and a --workers primary (which serves no
// requests) loads neither the pipeline nor the upstream client.
async function startPrimary(config: ProxyConfig): Promise<void> {
  const { logger, destination } = cliLogger(config);
  const [{ serveClusterStore }, { serveClusterMetrics }] = await Promise.all([import('../store/cluster/primary.js'), import('../observe/cluster-metrics.js')]);
  const memory = config.store === 'memory';
  logger.info('starting workers', {
    workers: config.workers,
    store: redactUrl(config.store),
    // Each worker keeps its own memory cache, bounded by --cache-size (store/cluster/).
    ...(memory && { cacheSizePerWorker: config.cacheSizeBytes }),
  });
  // The memory store's shared part (rules, ledger, change history) lives here, for every worker.
  if (memory) serveClusterStore({ fanOutTimeoutMs: Math.max(50, config.storeTimeoutMs / 2) });
  let stopping = false;
  const fork = () => {
    if (!stopping) cluster.fork();
  };
  serveClusterMetrics();
  for (let i = 0; i < config.workers; i++) fork();
  const started = new Set<number>();
  // --watch: one worker watches (the store is shared, so N watchers would ask every origin N
  // times for nothing); when it exits, another started worker takes over.
  let watcherId: number | undefined;
  const assignWatch = () => {
    if (!config.watch.length || watcherId !== undefined || stopping) return;
    const worker = [...started].map((id) => cluster.workers?.[id]).find((w) => w?.isConnected());
    if (!worker) return;
    watcherId = worker.id;
    sendOver(worker, { etagProxy: 'watch' });
  };
  cluster.on('message', (worker, message: unknown) => {
    if (!isReady(message)) return;
    started.add(worker.id);
    assignWatch();
  });
  cluster.on('exit', (worker, code, signal) => {
    const wasStarted = started.delete(worker.id);
    if (watcherId === worker.id) {
      watcherId = undefined;
      assignWatch();
    }
    if (stopping) return;
    // A worker that failed before serving (port in use, bad store URL) would fail again: stop,
    // with its exit code, as one process would. Its reason is already on stderr.
    if (!wasStarted && code !== 0) {
      stopping = true;
      void stopWorkers('force').then(() => process.exit(code ?? 1));
      return;
    }
    logger.warn('worker exited; starting another', { pid: worker.process.pid, code, signal });
    setTimeout(fork, 500);
  });
  onStopRequest((request) => {
    if (request.kind === 'force') {
      void stopWorkers('force');
      return;
    }
    stopping = true;
    const startedAt = Date.now();
    logger.info('shutting down', { signal: request.signal, timeoutMs: config.shutdownTimeoutMs, workers: Object.keys(cluster.workers ?? {}).length });
    void stopWorkers('drain', config.shutdownTimeoutMs).then(() => {
      logger.info('stopped', { ms: Date.now() - startedAt });
      return exitWhenLogged(destination, 0);
    });
  });
}

async function startWorker(config: ProxyConfig, fromConfigFile: boolean): Promise<void> {
  const { logger, destination } = cliLogger(config);
  // Listen for stop requests before the slow part (store connection), so none is missed.
  const stopper: { stop?: (request: StopRequest) => void; pending?: StopRequest } = {};
  onStopRequest((request) => (stopper.stop ? stopper.stop(request) : (stopper.pending = request)));

  let proxy: Proxy;
  try {
    const { createProxy } = await import('../index.js');
    proxy = await createProxy(config, { logger });
  } catch (error) {
    // Files the config names (the CA of --intercept, --upstream-ca) are checked here: bad configuration.
    if (error instanceof ConfigError) fatal(2, error.message);
    fatal(1, `cannot start: ${(error as Error).message}`);
  }
  const address = await proxy.listen().catch(async (error: Error) => {
    await proxy.close();
    fatal(1, `cannot listen on ${config.host}:${config.port}: ${describeListenError(error)}`);
  });
  let admin: AdminServer | undefined;
  if (config.admin.port) {
    const { startAdminServer } = await import('../admin/admin-server.js');
    admin = await startAdminServer(proxy, config.admin, logger).catch(async (error: Error) => {
      await proxy.close();
      fatal(1, `cannot listen on ${config.admin.host}:${config.admin.port} (--admin-port): ${describeListenError(error)}`);
    });
  }
  logger.info(`etag-proxy listening on ${address.url}`, {
    store: redactUrl(config.store),
    // Where a disk cache lives is the store field; its cap is worth the same line.
    ...(config.store.startsWith('disk:') && { cacheSizeBytes: config.cacheSizeBytes }),
    validators: config.validators,
    requestCacheControl: config.requestCacheControl,
    rules: describeRules(proxy.policies.rules),
    rulesFrom: describeRulesOrigin(proxy.policies.atStart, fromConfigFile),
    // Shown only when in use, so the line of a proxy without crawl rules is as it was.
    ...(proxy.policies.crawlRules.length > 0 && { urlRules: proxy.policies.crawlRules.length }),
    ...(config.offline && { offline: true }),
    ...(config.record && { record: true }),
    ...(admin && { admin: admin.url }),
    ...(config.watch.length > 0 && { watch: config.watch.length }),
    ...(cluster.isWorker && { worker: cluster.worker?.id }),
  });

  const running: Running = { proxy, ...(admin && { admin }) };
  const startWatcher = config.watch.length > 0 ? (await import('../observe/watch.js')).startWatcher : undefined;
  const watch = () => {
    if (!startWatcher) return;
    if (!running.watcher && !running.stopping) running.watcher = startWatcher(proxy, config, logger);
  };
  if (cluster.isWorker) {
    const { answerMetricsCollection } = await import('../observe/cluster-metrics.js');
    answerMetricsCollection(proxy.ctx.metrics);
    // The primary names the one worker that watches (startPrimary).
    if (config.watch.length) process.on('message', (message: unknown) => isWatchRequest(message) && watch());
    sendToPrimary({ etagProxy: 'ready' });
  } else if (config.watch.length) {
    watch();
  }
  stopper.stop = shutdownOnce(running, config, logger, destination);
  if (stopper.pending) stopper.stop(stopper.pending);
}

interface Running {
  proxy: Proxy;
  admin?: AdminServer;
  watcher?: Watcher;
  stopping?: boolean;
}

/** The first request drains; a later 'force' cuts what is still in flight. */
function shutdownOnce(running: Running, config: ProxyConfig, logger: Logger, destination: LogDestination): (request: StopRequest) => void {
  let draining = false;
  return (request) => {
    running.stopping = true;
    const timeoutMs = request.kind === 'force' ? 0 : config.shutdownTimeoutMs;
    if (draining) {
      // A second close can only bring the deadline forward; a repeated 'drain' changes nothing.
      if (request.kind === 'force') void Promise.all([running.proxy.close({ drainTimeoutMs: 0 }), running.admin?.close(0)]);
      return;
    }
    draining = true;
    const startedAt = Date.now();
    // With --workers the primary writes the two lines, once for all of them.
    if (cluster.isPrimary) logger.info('shutting down', { signal: request.signal, timeoutMs });
    // The watcher's timers stop now; a check in flight is a connection the drain waits for (or cuts).
    void Promise.all([running.watcher?.stop(), running.proxy.close({ drainTimeoutMs: timeoutMs }), running.admin?.close(timeoutMs)]).then(
      () => {
        if (cluster.isPrimary) logger.info('stopped', { ms: Date.now() - startedAt });
        return exitWhenLogged(destination, 0);
      },
      (error: unknown) => {
        // Still an exit, with its reason: never a stack trace, never a process left running.
        logger.error('shutdown failed', { error: error instanceof Error ? error.message : String(error) });
        return exitWhenLogged(destination, 1);
      },
    );
  };
}

const isWatchRequest = (message: unknown): boolean =>
  typeof message === 'object' && message !== null && (message as { etagProxy?: unknown }).etagProxy === 'watch';

const isReady = (message: unknown): boolean => typeof message === 'object' && message !== null && (message as { etagProxy?: unknown }).etagProxy === 'ready';

function describeListenError(error: NodeJS.ErrnoException): string {
  if (error.code === 'EADDRINUSE') return 'address already in use';
  if (error.code === 'EACCES') return 'permission denied (ports below 1024 need privileges)';
  if (error.code === 'EADDRNOTAVAIL') return 'no such address on this host';
  return error.code ?? error.message;
}

/** `client scraper-7: isolate; host *.example.com: strip, ignore; default: strip`, or `none`. */
export function describeRules(rules: PolicyRules): string {
  const settings = (rule: { validators?: string; requestCacheControl?: string }) =>
    [rule.validators, rule.requestCacheControl].filter((s) => s !== undefined).join(', ');
  const parts = [
    ...rules.clients.map((rule) => `client ${rule.match}: ${settings(rule)}`),
    ...rules.hosts.map((rule) => `host ${rule.match}: ${settings(rule)}`),
    ...(settings(rules.default) ? [`default: ${settings(rules.default)}`] : []),
  ];
  if (parts.length === 0) return 'none';
  const shown = parts.slice(0, RULES_SHOWN).join('; ');
  return parts.length > RULES_SHOWN ? `${shown}; and ${parts.length - RULES_SHOWN} more` : shown;
}

function describeRulesOrigin(atStart: RulesAtStart, fromConfigFile: boolean): string {
  const source = fromConfigFile ? 'config file' : 'no config file';
  switch (atStart.reason) {
    case 'same seed':
      return 'store (changed at run time; they override the config file)';
    case 'adopted':
      return "store (adopted the fleet's: this proxy's configuration names no rules)";
    case 'config differs':
      return "store (the fleet's, kept: the config file's differ; --replace-fleet-rules replaces them)";
    case 'replaced':
      return `${source} (--replace-fleet-rules: replaces the fleet's rules)`;
    case 'stored rules unreadable':
      return `${source} (the stored rules are unreadable: left in the store)`;
    case 'store unavailable':
      return `${source} (store unavailable)`;
    default:
      return source;
  }
}

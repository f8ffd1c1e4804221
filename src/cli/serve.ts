// `etag-proxy [serve]`: config → one proxy, or N workers (node:cluster) on one port.
// Exit codes: 2 for bad configuration, 1 when the proxy cannot start.
import cluster from 'node:cluster';
import type { OptionName } from '../config/options.js';
import { loadConfig } from '../config/load.js';
import type { ProxyConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { createProxy } from '../index.js';
import { createLogger } from '../observe/log.js';
import { startAdminServer } from '../admin/admin-server.js';

export async function serve(flags: Partial<Record<OptionName, unknown>> & { config?: string }): Promise<void> {
  let config: ProxyConfig;
  try {
    config = loadConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`etag-proxy: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    startPrimary(config);
    return;
  }
  await startWorker(config);
}

function startPrimary(config: ProxyConfig): void {
  const logger = createLogger(config.logLevel);
  logger.info('starting workers', { workers: config.workers, store: redact(config.store) });
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.warn('worker exited; starting another', { pid: worker.process.pid, code, signal });
    setTimeout(() => cluster.fork(), 500);
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function startWorker(config: ProxyConfig): Promise<void> {
  const logger = createLogger(config.logLevel);
  let proxy;
  try {
    proxy = await createProxy(config, { logger });
  } catch (error) {
    // Files the config names (the CA of --intercept, --upstream-ca) are checked here.
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`etag-proxy: ${error.message}\n`);
    process.exit(2);
  }
  let address;
  try {
    address = await proxy.listen();
  } catch (error) {
    process.stderr.write(`etag-proxy: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`);
    await proxy.close();
    process.exit(1);
  }
  const admin = config.admin.port ? await startAdminServer(proxy, config.admin, logger) : undefined;
  logger.info(`etag-proxy listening on ${address.url}`, {
    store: redact(config.store),
    validators: config.validators,
    ...(admin && { admin: admin.url }),
    ...(cluster.isWorker && { worker: cluster.worker?.id }),
  });
  const stop = async () => {
    await admin?.close();
    await proxy.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** Never log a Redis password. */
function redact(store: string): string {
  return store.replace(/\/\/([^@/]*)@/, '//***@');
}

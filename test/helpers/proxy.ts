// Start a proxy on 127.0.0.1:0 with test defaults (silent log, fake clock if given).
import type { IncomingMessage } from 'node:http';
import { createProxy, defaultConfig, type Proxy, type ProxyConfig } from '../../src/index.js';
import { createLogger, type Logger } from '../../src/observe/log.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import type { Backend } from '../../src/store/types.js';

export interface TestProxy {
  proxy: Proxy;
  url: string;
  port: number;
  logs: string[];
  stop(): Promise<void>;
}

export async function startProxy(
  overrides: Partial<ProxyConfig> = {},
  options: { now?: () => number; backend?: Backend<StoredPolicies>; logger?: Logger } = {},
): Promise<TestProxy> {
  const logs: string[] = [];
  const logger = options.logger ?? createLogger('debug', (line) => void logs.push(line));
  const proxy = await createProxy(defaultConfig({ port: 0, ...overrides }), { ...options, logger });
  const address = await proxy.listen(0, '127.0.0.1');
  return { proxy, url: address.url, port: address.port, logs, stop: () => proxy.close() };
}

/** A controllable clock: freshness tests move time instead of sleeping. */
export function fakeClock(start = Date.now()) {
  let now = start;
  return {
    now: () => now,
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

/**
 * Resolves once the proxy's server has been handed `count` requests whose target ends with
 * `pathEnd` (counted from this call), then lets the event loop turn a few times so that each
 * of them gets past the lookup to where it waits (a collapsed follower, a stale hit). Tests that
 * need requests to overlap hold the origin's answer until then, instead of hoping they all
 * arrive within a fixed delay (they did not on a loaded machine).
 */
export function proxyReceived(proxy: TestProxy, pathEnd: string, count: number, ms = 20_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      proxy.proxy.server.off('request', onRequest);
      reject(new Error(`the proxy received ${seen} of ${count} requests for …${pathEnd} within ${ms} ms`));
    }, ms);
    const onRequest = (req: IncomingMessage): void => {
      if (!(req.url ?? '').endsWith(pathEnd) || ++seen < count) return;
      proxy.proxy.server.off('request', onRequest);
      clearTimeout(timer);
      void settle().then(resolve);
    };
    proxy.proxy.server.on('request', onRequest);
  });
}

/** A few turns of the event loop: what the proxy does without I/O (memory store reads) is done. */
async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

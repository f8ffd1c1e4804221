// Start a proxy on 127.0.0.1:0 with test defaults (silent log, fake clock if given).
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

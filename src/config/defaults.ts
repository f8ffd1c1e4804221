// Default configuration: what `etag-proxy` with no flags runs with.
import { emptyParents } from '../parents/config.js';
import { emptyRules } from '../policy/rules.js';
import type { ProxyConfig } from './types.js';

export const MiB = 1024 * 1024;

export function defaultConfig(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    host: '127.0.0.1',
    port: 8080,
    store: 'memory',
    namespace: 'etag-proxy',
    cacheSizeBytes: 256 * MiB,
    maxObjectSizeBytes: 16 * MiB,
    upstreamTimeoutMs: 30_000,
    storeTimeoutMs: 250,
    keepValidatorsMs: 7 * 24 * 3600 * 1000,
    serveStaleIfDisconnectedMs: 3600 * 1000,
    logLevel: 'info',
    accessLog: false,
    workers: 1,
    maxConnections: 4096,
    // Each costs a socket and up to 256 KiB of waiting events (admin/change-feed.ts): 16 MiB at most.
    maxChangeSubscribers: 64,
    maxConnectionsPerClient: 'auto',
    keepAliveTimeoutMs: 30_000,
    headersTimeoutMs: 60_000,
    shutdownTimeoutMs: 10_000,
    // nginx's send_timeout (Squid's write_timeout is 15 minutes).
    sendTimeoutMs: 60_000,
    originConnections: 256,
    // A quarter of an origin's connections: four clients stalling at once still leave none for a
    // fifth until the send deadline frees theirs, but one never can.
    originConnectionsPerClient: 64,

    validators: 'pass',
    requestCacheControl: 'honor',
    identity: { header: 'x-proxy-client', users: {}, requireAuth: false },
    policies: emptyRules(),
    rules: [],
    replaceFleetRules: false,
    offline: false,
    record: false,
    admin: { port: 0, host: '127.0.0.1' },
    allowClients: [],
    // Squid's SSL_ports plus plain HTTP: a tunnel elsewhere (SMTP, Redis, SSH) is a relay.
    connectPorts: [
      [443, 443],
      [80, 80],
    ],
    restrictDestinations: 'auto',
    allowDestinations: [],
    intercept: false,
    passthrough: [],
    insecureUpstream: false,
    metricsTopHosts: 0,
    purge: false,
    watch: [],
    watchEveryMs: 5 * 60_000,
    parents: emptyParents(),
    ...overrides,
  };
}

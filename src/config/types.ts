// The validated configuration every module reads. Built by config/load.ts from flags, the
// config file and defaults; tests build it with `defaultConfig()` plus overrides.
import type { Cidr } from '../guard/address-ranges.js';
import type { PortRange } from '../guard/guard.js';
import type { LogLevel } from '../observe/log.js';
import type { ParentsConfig } from '../parents/config.js';
import type { CrawlRule } from '../policy/crawl-rules.js';
import type { PolicyRules } from '../policy/rules.js';
import type { RequestCacheControlMode, ValidatorMode } from '../policy/types.js';

export interface IdentityConfig {
  /** Request header that names the client (removed before forwarding). */
  header: string;
  /** client id → password for Proxy-Authorization: Basic. Empty: passwords are not checked. */
  users: Record<string, string>;
  /** Answer 407 to requests without valid Proxy-Authorization. */
  requireAuth: boolean;
}

export interface AdminConfig {
  /** 0 = no admin listener. */
  port: number;
  host: string;
  token?: string;
}

/** One URL of --watch / `watch:`; without its own interval it is checked every `watchEveryMs`. */
export interface WatchedUrl {
  url: string;
  everyMs?: number;
}

export interface ProxyConfig {
  host: string;
  port: number;
  /** 'memory', 'disk:<absolute directory>', or a redis://, rediss:// or redis+cluster:// URL. */
  store: string;
  /** From --store-password-file or ETAG_PROXY_STORE_PASSWORD: joined to the store URL only to connect, so `store` never carries it. */
  storePassword?: string;
  namespace: string;
  cacheSizeBytes: number;
  maxObjectSizeBytes: number;
  upstreamTimeoutMs: number;
  storeTimeoutMs: number;
  keepValidatorsMs: number;
  /** How long past freshness a stale entry may answer while the origin cannot be reached (0: never). */
  serveStaleIfDisconnectedMs: number;
  /** Lower-case name of a targeted Cache-Control field (RFC 9213) this cache obeys, or undefined. */
  targetedCacheControl?: string;
  logLevel: LogLevel;
  /** --access-log: one info line per request (failed requests get a warn line either way). */
  accessLog: boolean;
  /** --log-file: log lines go to this file (reopened on SIGHUP) instead of stdout. */
  logFile?: string;
  workers: number;
  /** Open client connections per process; past it a new one gets a 503 and is closed. */
  maxConnections: number;
  /** Open GET /changes/stream subscribers per process; past it the admin API answers 503. */
  maxChangeSubscribers: number;
  /** Open connections one client address may hold; 'auto': an eighth of maxConnections, at least 64. */
  maxConnectionsPerClient: number | 'auto';
  /** How long an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** A client that has not sent its whole request head in this long gets a 408. */
  headersTimeoutMs: number;
  /** A client that accepts none of the bytes written to it for this long is cut (0: never). */
  sendTimeoutMs: number;
  /** Connections open to one origin at a time (the upstream pool's size per origin). */
  originConnections: number;
  /** Origin requests one client may have open to one origin at a time; more wait their turn. */
  originConnectionsPerClient: number;
  /** On SIGTERM / SIGINT: how long requests in flight may run before they are cut. */
  shutdownTimeoutMs: number;
  validators: ValidatorMode;
  requestCacheControl: RequestCacheControlMode;
  identity: IdentityConfig;
  policies: PolicyRules;
  /** --offline: answer only from the cache; never contact an origin. */
  offline: boolean;
  /** --record: store every successful GET response for replay, even with no freshness. */
  record: boolean;
  /** URL rules for crawls (`rules:`), in file order. */
  rules: CrawlRule[];
  /**
   * --replace-fleet-rules: at start, this configuration's policies and URL rules replace the
   * fleet's stored ones unless those grew from these same rules. Off: a proxy adopts what the
   * fleet has, and seeds it only when nothing is stored (policy/stored-rules.ts).
   */
  replaceFleetRules: boolean;
  admin: AdminConfig;
  /** Client addresses that may use the proxy (--allow); empty: any client that can connect. */
  allowClients: Cidr[];
  /** Ports a CONNECT may reach (--connect-ports). */
  connectPorts: PortRange[];
  /** Refuse loopback/private/link-local destinations: auto = when listening beyond loopback. */
  restrictDestinations: 'auto' | 'yes' | 'no';
  /** Exceptions to restrictDestinations (--allow-destinations). */
  allowDestinations: Cidr[];
  /** Directory of the CA (`etag-proxy ca init`); undefined = tls/ca.ts defaultCaDir(). */
  caDir?: string;
  /** Terminate TLS of CONNECTs: every host (true), none (false), or hosts matching these globs. */
  intercept: boolean | string[];
  /** Host globs never intercepted (clients that pin certificates): raw tunnels. */
  passthrough: string[];
  /** PEM file of extra roots trusted for origins, beside Node's own. */
  upstreamCa?: string;
  /** Do not verify origin certificates (warned about at start). */
  insecureUpstream: boolean;
  /** Answer the PURGE method on the proxy port (--purge), for --allow'ed (or loopback) clients only. */
  purge: boolean;
  /** Origin hosts given their own metrics label (--metrics-top-hosts); 0 = none. */
  metricsTopHosts: number;
  /** URLs the proxy revalidates itself (--watch / `watch:`, observe/watch.ts), in list order. */
  watch: WatchedUrl[];
  /** Default interval of a watched URL (--watch-every / `watch.every`). */
  watchEveryMs: number;
  /** Parent proxies (`parents:`, --parent): pools, the default route (src/parents). */
  parents: ParentsConfig;
}

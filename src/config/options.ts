// THE table of command-line options: name, type, default (as shown in --help), help text, the
// config-file key it maps to, and how its value is parsed. yargs, config/load.ts and the
// README all read this one table.
import type { ProxyConfig } from './types.js';
import { parseWatchList, parseWatchInterval } from './watch-schema.js';
import { parseBoolean, parseChoice, parseCidrList, parseDuration, parseFieldName, parseHostList, parseInteger, parseIntercept, parseLogLevel, parsePortList, parseSize, parseStore, parseString } from './schema.js';
import { readSecretFile, STORE_PASSWORD_ENV } from './secrets.js';
import { LOG_LEVELS } from '../observe/log.js';
import { applyParentFlag, defaultPool, PARENT_PASSWORD_ENV, withPassword } from '../parents/config.js';
import { REQUEST_CACHE_CONTROL_MODES, VALIDATOR_MODES } from '../policy/types.js';

export interface OptionRow {
  type: 'string' | 'number' | 'boolean';
  default: string | number | boolean | undefined;
  describe: string;
  choices?: readonly string[];
  /** The flag may be given several times (`--watch a --watch b`); its values arrive as a list. */
  repeatable?: true;
  /** Write the parsed value into the config. `path` names the flag or file key in errors. */
  apply(config: ProxyConfig, value: unknown, path: string): void;
}

export const OPTIONS = {
  host: {
    type: 'string',
    default: '127.0.0.1',
    describe: 'address to listen on',
    apply: (c, v, p) => void (c.host = parseString(p, v)),
  },
  port: {
    type: 'number',
    default: 8080,
    describe: 'port to listen on (0 = any free port)',
    apply: (c, v, p) => void (c.port = parseInteger(p, v, 0, 65535)),
  },
  store: {
    type: 'string',
    default: 'memory',
    describe: 'cache store: memory, redis://host:port/db, rediss://… or redis+cluster://host1:port1,host2:port2',
    apply: (c, v, p) => void (c.store = parseStore(p, v)),
  },
  'store-password-file': {
    type: 'string',
    default: undefined,
    describe: `file holding the Redis password, joined to the store URL (also ${STORE_PASSWORD_ENV})`,
    apply: (c, v, p) => void (c.storePassword = readSecretFile(p, v)),
  },
  namespace: {
    type: 'string',
    default: 'etag-proxy',
    describe: 'key prefix in Redis, so several deployments can share one Redis',
    apply: (c, v, p) => void (c.namespace = parseString(p, v)),
  },
  'cache-size': {
    type: 'string',
    default: '256MiB',
    describe: 'bytes the memory store may hold, LRU past it (with Redis: the per-process near cache)',
    apply: (c, v, p) => void (c.cacheSizeBytes = parseSize(p, v)),
  },
  'max-object-size': {
    type: 'string',
    default: '16MiB',
    describe: 'larger responses are streamed through and not stored',
    apply: (c, v, p) => void (c.maxObjectSizeBytes = parseSize(p, v)),
  },
  'upstream-timeout': {
    type: 'string',
    default: '30s',
    describe: 'an origin silent this long gets a 504 (or a cut transfer mid-body)',
    apply: (c, v, p) => void (c.upstreamTimeoutMs = parseDuration(p, v)),
  },
  'store-timeout': {
    type: 'string',
    default: '250ms',
    describe: 'longest a store call may delay a request; past it the request is served uncached',
    apply: (c, v, p) => void (c.storeTimeoutMs = parseDuration(p, v)),
  },
  'keep-validators': {
    type: 'string',
    default: '7d',
    describe: 'keep entries with ETag / Last-Modified this long past freshness, for cheap revalidation',
    apply: (c, v, p) => void (c.keepValidatorsMs = parseDuration(p, v)),
  },
  'serve-stale-if-disconnected': {
    type: 'string',
    default: '1h',
    describe: 'serve a stale entry this long past freshness while the origin cannot be reached (0 = never)',
    apply: (c, v, p) => void (c.serveStaleIfDisconnectedMs = parseDuration(p, v)),
  },
  'targeted-cache-control': {
    type: 'string',
    default: undefined,
    describe: 'a targeted Cache-Control field this cache obeys over Cache-Control (RFC 9213), e.g. CDN-Cache-Control',
    apply: (c, v, p) => void (c.targetedCacheControl = parseFieldName(p, v)),
  },
  offline: {
    type: 'boolean',
    default: false,
    describe: 'answer only from the cache, fresh or stale; never contact an origin (504 when nothing is stored)',
    apply: (c, v, p) => void (c.offline = parseBoolean(p, v)),
  },
  record: {
    type: 'boolean',
    default: false,
    describe: 'store every successful GET response for replay with --offline, even with no freshness',
    apply: (c, v, p) => void (c.record = parseBoolean(p, v)),
  },
  'replace-fleet-rules': {
    type: 'boolean',
    default: false,
    describe: "the config file's policies and URL rules replace the fleet's stored ones (otherwise the stored ones win)",
    apply: (c, v, p) => void (c.replaceFleetRules = parseBoolean(p, v)),
  },
  workers: {
    type: 'number',
    default: 1,
    describe: 'proxy processes sharing the port (node:cluster); with the memory store each keeps its own cache',
    apply: (c, v, p) => void (c.workers = parseInteger(p, v, 1, 256)),
  },
  'max-connections': {
    type: 'number',
    default: 4096,
    describe: 'open client connections per process; past it the oldest idle one is closed to make room, else a new one gets a 503',
    apply: (c, v, p) => void (c.maxConnections = parseInteger(p, v, 1, 1_000_000)),
  },
  'max-connections-per-client': {
    type: 'string',
    default: 'auto',
    describe: 'open connections one client address may hold (tunnels included); auto = an eighth of --max-connections, at least 64',
    apply: (c, v, p) => void (c.maxConnectionsPerClient = v === 'auto' ? 'auto' : parseInteger(p, v, 1, 1_000_000)),
  },
  'keep-alive-timeout': {
    type: 'string',
    default: '30s',
    describe: 'how long an idle keep-alive connection (or intercepted tunnel) is kept between requests',
    apply: (c, v, p) => void (c.keepAliveTimeoutMs = parseDuration(p, v)),
  },
  'headers-timeout': {
    type: 'string',
    default: '60s',
    describe: 'a client that has not sent its whole request head in this long gets a 408 (on the admin listener: head and body; a tunnel\'s first bytes and TLS handshake: closed)',
    apply: (c, v, p) => void (c.headersTimeoutMs = parseDuration(p, v)),
  },
  'send-timeout': {
    type: 'string',
    default: '60s',
    describe: 'a client that accepts none of the bytes sent to it for this long is cut, its origin request and buffers released (0 = never)',
    apply: (c, v, p) => void (c.sendTimeoutMs = parseDuration(p, v)),
  },
  'origin-connections': {
    type: 'number',
    default: 256,
    describe: 'connections open to one origin at a time; more requests wait for one',
    apply: (c, v, p) => void (c.originConnections = parseInteger(p, v, 1, 65_536)),
  },
  'origin-connections-per-client': {
    type: 'number',
    default: 64,
    describe: "requests one client (its address, or its checked Proxy-Authorization user) may have open to one origin; more wait their turn (503 past --upstream-timeout)",
    apply: (c, v, p) => void (c.originConnectionsPerClient = parseInteger(p, v, 1, 65_536)),
  },
  validators: {
    type: 'string',
    default: 'pass',
    choices: VALIDATOR_MODES,
    describe: "default policy for clients' If-None-Match / If-Modified-Since: pass, strip or isolate",
    apply: (c, v, p) => void (c.validators = parseChoice(p, v, VALIDATOR_MODES)),
  },
  'request-cache-control': {
    type: 'string',
    default: 'honor',
    choices: REQUEST_CACHE_CONTROL_MODES,
    describe: "default for clients' request Cache-Control / Pragma: honor, or ignore (serve fresh entries anyway)",
    apply: (c, v, p) => void (c.requestCacheControl = parseChoice(p, v, REQUEST_CACHE_CONTROL_MODES)),
  },
  'identity-header': {
    type: 'string',
    default: 'X-Proxy-Client',
    describe: 'request header naming the client (removed before forwarding)',
    apply: (c, v, p) => void (c.identity.header = parseString(p, v).toLowerCase()),
  },
  'require-auth': {
    type: 'boolean',
    default: false,
    describe: 'answer 407 to requests without Proxy-Authorization',
    apply: (c, v, p) => void (c.identity.requireAuth = parseBoolean(p, v)),
  },
  'admin-port': {
    type: 'number',
    default: 0,
    describe: 'port of the admin API (policies); 0 = no admin API',
    apply: (c, v, p) => void (c.admin.port = parseInteger(p, v, 0, 65535)),
  },
  'admin-host': {
    type: 'string',
    default: '127.0.0.1',
    describe: 'address of the admin API',
    apply: (c, v, p) => void (c.admin.host = parseString(p, v)),
  },
  'admin-token': {
    type: 'string',
    default: undefined,
    describe: 'bearer token the admin API requires (also ETAG_PROXY_ADMIN_TOKEN)',
    apply: (c, v, p) => void (c.admin.token = parseString(p, v)),
  },
  allow: {
    type: 'string',
    default: undefined,
    describe: 'client addresses that may use the proxy (CIDRs, comma-separated); others get 403',
    apply: (c, v, p) => void (c.allowClients = parseCidrList(p, v)),
  },
  'connect-ports': {
    type: 'string',
    default: '443,80',
    describe: 'ports CONNECT may reach (ports or ranges, comma-separated); others get 403',
    apply: (c, v, p) => void (c.connectPorts = parsePortList(p, v)),
  },
  'restrict-destinations': {
    type: 'string',
    default: 'auto',
    choices: ['auto', 'yes', 'no'],
    describe: 'refuse loopback, private and link-local destinations: auto = when --host is not loopback',
    apply: (c, v, p) => void (c.restrictDestinations = parseChoice(p, v, ['auto', 'yes', 'no'] as const)),
  },
  'allow-destinations': {
    type: 'string',
    default: undefined,
    describe: 'destinations (CIDRs, comma-separated) reachable despite --restrict-destinations',
    apply: (c, v, p) => void (c.allowDestinations = parseCidrList(p, v)),
  },
  'admin-token-file': {
    type: 'string',
    default: undefined,
    describe: 'file holding the admin bearer token (keeps it out of ps)',
    apply: (c, v, p) => void (c.admin.token = readSecretFile(p, v)),
  },
  'max-change-subscribers': {
    type: 'number',
    default: 64,
    describe: 'open /changes/stream subscribers per process; past it the admin API answers 503',
    apply: (c, v, p) => void (c.maxChangeSubscribers = parseInteger(p, v, 1, 100_000)),
  },
  'log-level': {
    type: 'string',
    default: 'info',
    choices: LOG_LEVELS,
    describe: 'debug, info (state changes; with --access-log one line per request), warn, error or silent',
    apply: (c, v, p) => void (c.logLevel = parseLogLevel(p, v)),
  },
  'access-log': {
    type: 'boolean',
    default: false,
    describe: 'write the access log: one JSON line per request at info (client, URL, status, outcome, policy, upstream time, bytes); without it only failed requests get a line (warn)',
    apply: (c, v, p) => void (c.accessLog = parseBoolean(p, v)),
  },
  'log-file': {
    type: 'string',
    default: undefined,
    describe: 'append log lines to this file instead of stdout; SIGHUP reopens it (logrotate)',
    apply: (c, v, p) => void (c.logFile = parseString(p, v)),
  },
  'metrics-top-hosts': {
    type: 'number',
    default: 0,
    describe: 'give the first N origin hosts seen their own label in /metrics (the rest: host="other"); 0 = no per-host series',
    apply: (c, v, p) => void (c.metricsTopHosts = parseInteger(p, v, 0, 1000)),
  },
  purge: {
    type: 'boolean',
    default: false,
    describe: 'answer PURGE <url> on the proxy port by removing every stored variant; only from --allow addresses (loopback without --allow)',
    apply: (c, v, p) => void (c.purge = parseBoolean(p, v)),
  },
  'shutdown-timeout': {
    type: 'string',
    default: '10s',
    describe: 'on SIGTERM / SIGINT, how long requests in flight may take to finish before they are cut',
    apply: (c, v, p) => void (c.shutdownTimeoutMs = parseDuration(p, v)),
  },
  intercept: {
    type: 'boolean',
    default: false,
    describe: 'decrypt and cache HTTPS CONNECTs with the CA of `etag-proxy ca init` (config: true or a list of host globs)',
    apply: (c, v, p) => void (c.intercept = parseIntercept(p, v)),
  },
  passthrough: {
    type: 'string',
    default: undefined,
    describe: 'comma-separated host globs never intercepted (clients that pin certificates): raw tunnels',
    apply: (c, v, p) => void (c.passthrough = parseHostList(p, v)),
  },
  'ca-dir': {
    type: 'string',
    default: undefined,
    describe: 'directory of the CA (default: $XDG_CONFIG_HOME or ~/.config, then etag-proxy/ca)',
    apply: (c, v, p) => void (c.caDir = parseString(p, v)),
  },
  'upstream-ca': {
    type: 'string',
    default: undefined,
    describe: 'PEM file of extra CA certificates trusted for HTTPS origins (beside Node\'s roots)',
    apply: (c, v, p) => void (c.upstreamCa = parseString(p, v)),
  },
  'insecure-upstream': {
    type: 'boolean',
    default: false,
    describe: 'do not verify HTTPS origin certificates (warned about at start; for tests and labs only)',
    apply: (c, v, p) => void (c.insecureUpstream = parseBoolean(p, v)),
  },
  watch: {
    type: 'string',
    default: undefined,
    repeatable: true,
    describe: 'URL the proxy revalidates itself every --watch-every, feeding the change feed; @file reads one URL a line (repeatable)',
    apply: (c, v, p) => void (c.watch = parseWatchList(c, p, v)),
  },
  'watch-every': {
    type: 'string',
    default: '5m',
    describe: 'how often each --watch URL is revalidated (±10 % jitter, one request per host at a time)',
    apply: (c, v, p) => void (c.watchEveryMs = parseWatchInterval(p, v)),
  },
  parent: {
    type: 'string',
    default: undefined,
    repeatable: true,
    describe: `parent proxy for upstream requests, http://[user@]host:port or https://…; repeat for a round-robin pool named "default" (password: --parent-password-file or ${PARENT_PASSWORD_ENV}; more pools: parents: in the config file)`,
    apply: (c, v, p) => applyParentFlag(c.parents, p, v),
  },
  'parent-password-file': {
    type: 'string',
    default: undefined,
    describe: `file holding the password of the --parent proxies (keeps it out of ps; also ${PARENT_PASSWORD_ENV})`,
    apply: (c, v, p) => withPassword(defaultPool(c.parents, p), readSecretFile(p, v)),
  },
  'parent-new-connection': {
    type: 'boolean',
    default: false,
    describe: 'open a new connection to the --parent proxy for every request, so a rotating pool gives each request a new exit (keep-alive pins one)',
    apply: (c, v, p) => void (defaultPool(c.parents, p).newConnectionPerRequest = parseBoolean(p, v)),
  },
} satisfies Record<string, OptionRow>;

export type OptionName = keyof typeof OPTIONS;

/** Config-file key for an option: the flag in camelCase (`max-object-size` → `maxObjectSize`). */
export const fileKey = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

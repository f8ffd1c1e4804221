// Parent proxies as configured: pools of parents (`parents:` in the config file, or `--parent URL`
// for one pool named "default"), parsed and checked here. Credentials come from the URL (config
// file only), a password file or an environment variable, and never appear in a label, an error
// or an admin answer: a parent is shown as `scheme://host:port` only (STYLE.md invariant 4).
import { ConfigError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import { expectObject, parseBoolean, parseChoice, parseDuration, parseFieldName, parseGlob, parseInteger, parseString, rejectUnknownKeys } from '../config/schema.js';
import { readSecretFile } from '../config/secrets.js';
import { parseBanMarkers, type BanMarkers } from './ban.js';

export const PARENT_SCHEMES = ['http', 'https', 'socks5', 'socks5h'] as const;
export type ParentScheme = (typeof PARENT_SCHEMES)[number];

/** Environment variable holding the password of the `--parent` pool's parents. */
export const PARENT_PASSWORD_ENV = 'ETAG_PROXY_PARENT_PASSWORD';

export const DEFAULT_POOL = 'default';
export const DIRECT = 'direct';

export interface ParentSpec {
  scheme: ParentScheme;
  /** Host name or address, IPv6 without brackets. */
  host: string;
  port: number;
  username?: string;
  password?: string;
  weight: number;
  /** How the parent is shown everywhere: `scheme://host:port`, never with credentials. */
  label: string;
}

export const SELECTIONS = ['round-robin', 'random', 'weighted', 'sticky'] as const;
export type Selection = (typeof SELECTIONS)[number];

/** Variables a user-name template may use: `{session}`, `{country}` (from the session header), `{client}` (the identity). */
export const TEMPLATE_VARIABLES = ['session', 'country', 'client'] as const;

export interface PoolSpec {
  name: string;
  parents: ParentSpec[];
  /** How a parent is chosen: round-robin, random, weighted (random by weight) or sticky (one parent per session or client). */
  selection: Selection;
  /** The parents' user name, filled per request: `user-session-{session}-country-{country}`. */
  usernameTemplate?: string;
  /** Close the connection to the parent after each request, so a rotating pool gives a new exit each time. */
  newConnectionPerRequest: boolean;
  /** How long a failed parent is skipped. */
  cooldownMs: number;
  /** Money one GB through this pool costs, to show what the cache saved. */
  pricePerGB?: number;
  /** Answers that mean the exit was blocked (parents/ban.ts). */
  ban?: BanMarkers;
}

/** A routing rule: every given test must match; the first rule that matches wins. */
export interface RouteSpec {
  match: { host?: string; client?: string; url?: string };
  /** Pool name or "direct". */
  pool: string;
}

export const DEFAULT_SESSION_HEADER = 'x-proxy-session';

export interface ParentsConfig {
  pools: PoolSpec[];
  routes: RouteSpec[];
  /** Request header with the session (and country) for sticky selection and user-name templates; removed before forwarding. */
  sessionHeader: string;
  /** Pool name or "direct": where requests go that no rule routes. */
  default: string;
  /** A request routed to a pool never goes direct, even when the pool has no parent left. */
  neverDirect: boolean;
}

export function emptyParents(): ParentsConfig {
  return { pools: [], routes: [], sessionHeader: DEFAULT_SESSION_HEADER, default: DIRECT, neverDirect: false };
}

const DEFAULT_PORTS: Record<ParentScheme, number> = { http: 80, https: 443, socks5: 1080, socks5h: 1080 };

export function parentLabel(scheme: ParentScheme, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * One parent URL. `allowPassword` is false for command-line flags: `ps` shows them, so the
 * password must come from a file or the environment instead.
 */
export function parseParentUrl(path: string, value: unknown, allowPassword: boolean): ParentSpec {
  const text = parseString(path, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${path}: expected a parent proxy URL such as http://host:3128, got ${JSON.stringify(redactUrl(text))}`);
  }
  const scheme = url.protocol.slice(0, -1) as ParentScheme;
  if (!PARENT_SCHEMES.includes(scheme)) throw new ConfigError(`${path}: expected a URL starting with ${PARENT_SCHEMES.map((s) => `${s}://`).join(', ')}, got ${JSON.stringify(redactUrl(text))}`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new ConfigError(`${path}: a parent URL is scheme://[user[:password]@]host:port with no path, got ${JSON.stringify(redactUrl(text))}`);
  if (url.password && !allowPassword) {
    throw new ConfigError(`${path}: a password on the command line is visible in ps; give it with --parent-password-file or ${PARENT_PASSWORD_ENV}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];
  const spec: ParentSpec = { scheme, host, port, weight: 1, label: parentLabel(scheme, host, port) };
  if (url.username) spec.username = decodeURIComponent(url.username);
  if (url.password) spec.password = decodeURIComponent(url.password);
  return spec;
}

/** `{ url, weight }` or a bare URL. */
function parseParentEntry(path: string, value: unknown): ParentSpec {
  if (typeof value === 'string') return parseParentUrl(path, value, true);
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, ['url', 'weight']);
  const spec = parseParentUrl(`${path}.url`, raw['url'], true);
  if (raw['weight'] !== undefined) spec.weight = parseInteger(`${path}.weight`, raw['weight'], 1, 1000);
  return spec;
}

export const POOL_KEYS = ['parents', 'selection', 'username', 'ban', 'passwordFile', 'passwordEnv', 'newConnectionPerRequest', 'cooldown', 'pricePerGB'] as const;

export function newPool(name: string, parents: ParentSpec[] = []): PoolSpec {
  return { name, parents, selection: 'round-robin', newConnectionPerRequest: false, cooldownMs: 30_000 };
}

function parsePool(path: string, name: string, value: unknown, env: NodeJS.ProcessEnv): PoolSpec {
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/i.test(name) || name === DIRECT) throw new ConfigError(`${path}: expected a pool name of letters, digits, _ and - (at most 32, not "direct"), got ${JSON.stringify(name)}`);
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, POOL_KEYS);
  if (!Array.isArray(raw['parents']) || raw['parents'].length === 0) throw new ConfigError(`${path}.parents: expected a list of parent proxy URLs, got ${raw['parents'] === undefined ? 'no value' : 'an empty or non-list value'}`);
  const pool = newPool(name, raw['parents'].map((item, i) => parseParentEntry(`${path}.parents[${i}]`, item)));
  if (raw['ban'] !== undefined) pool.ban = parseBanMarkers(`${path}.ban`, raw['ban']);
  if (raw['selection'] !== undefined) pool.selection = parseChoice(`${path}.selection`, raw['selection'], SELECTIONS);
  if (raw['username'] !== undefined) pool.usernameTemplate = parseUsernameTemplate(`${path}.username`, raw['username']);
  if (raw['newConnectionPerRequest'] !== undefined) pool.newConnectionPerRequest = parseBoolean(`${path}.newConnectionPerRequest`, raw['newConnectionPerRequest']);
  if (raw['cooldown'] !== undefined) pool.cooldownMs = parseDuration(`${path}.cooldown`, raw['cooldown']);
  if (raw['pricePerGB'] !== undefined) {
    const price = raw['pricePerGB'];
    if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) throw new ConfigError(`${path}.pricePerGB: expected a number such as 3.5, got ${JSON.stringify(price)}`);
    pool.pricePerGB = price;
  }
  let password: string | undefined;
  if (raw['passwordFile'] !== undefined) password = readSecretFile(`${path}.passwordFile`, raw['passwordFile']);
  if (raw['passwordEnv'] !== undefined) {
    const variable = parseString(`${path}.passwordEnv`, raw['passwordEnv']);
    password = env[variable];
    if (!password) throw new ConfigError(`${path}.passwordEnv: the environment variable ${variable} is not set`);
  }
  if (password !== undefined) withPassword(pool, password);
  return pool;
}

function parseUsernameTemplate(path: string, value: unknown): string {
  const template = parseString(path, value);
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name!)) throw new ConfigError(`${path}: expected variables ${TEMPLATE_VARIABLES.map((v) => `{${v}}`).join(', ')}, got {${name}}`);
  }
  if (template.includes(':')) throw new ConfigError(`${path}: a user name cannot hold ":" (Basic credentials), got ${JSON.stringify(template)}`);
  return template;
}

function parseRoutes(path: string, value: unknown): RouteSpec[] {
  if (!Array.isArray(value)) throw new ConfigError(`${path}: expected a list of { match: { host?, client?, url? }, pool }, got ${JSON.stringify(value)}`);
  return value.map((item, i) => {
    const rulePath = `${path}[${i}]`;
    const raw = expectObject(rulePath, item);
    rejectUnknownKeys(rulePath, raw, ['match', 'pool']);
    const match = expectObject(`${rulePath}.match`, raw['match']);
    rejectUnknownKeys(`${rulePath}.match`, match, ['host', 'client', 'url']);
    if (!Object.keys(match).length) throw new ConfigError(`${rulePath}.match: expected at least one of host, client, url`);
    const route: RouteSpec = { match: {}, pool: parseString(`${rulePath}.pool`, raw['pool']) };
    if (match['host'] !== undefined) route.match.host = parseGlob(`${rulePath}.match.host`, String(match['host']).toLowerCase(), 'name');
    if (match['client'] !== undefined) route.match.client = parseGlob(`${rulePath}.match.client`, match['client'], 'name');
    if (match['url'] !== undefined) route.match.url = parseGlob(`${rulePath}.match.url`, match['url'], 'wildcard');
    return route;
  });
}

/** Give `password` to every parent of the pool that has none of its own. */
export function withPassword(pool: PoolSpec, password: string): void {
  for (const parent of pool.parents) parent.password ??= password;
}

/** `parents:` from the config file: `{ pools: { name: {…} }, default, neverDirect }`. */
export function parseParents(path: string, value: unknown, config: ParentsConfig, env: NodeJS.ProcessEnv = process.env): ParentsConfig {
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, ['pools', 'routes', 'default', 'neverDirect', 'sessionHeader']);
  const pools = expectObject(`${path}.pools`, raw['pools'] ?? {});
  const parsed = Object.entries(pools).map(([name, pool]) => parsePool(`${path}.pools.${name}`, name, pool, env));
  const result: ParentsConfig = { ...config, pools: [...config.pools.filter((p) => !pools[p.name]), ...parsed] };
  if (raw['default'] !== undefined) result.default = parseString(`${path}.default`, raw['default']);
  else if (parsed.length === 1 && result.default === DIRECT) result.default = parsed[0]!.name;
  if (raw['neverDirect'] !== undefined) result.neverDirect = parseBoolean(`${path}.neverDirect`, raw['neverDirect']);
  if (raw['routes'] !== undefined) result.routes = parseRoutes(`${path}.routes`, raw['routes']);
  if (raw['sessionHeader'] !== undefined) result.sessionHeader = parseFieldName(`${path}.sessionHeader`, raw['sessionHeader']);
  checkParents(path, result);
  return result;
}

/** Every pool a setting names exists. */
export function checkParents(path: string, config: ParentsConfig): void {
  const names = new Set(config.pools.map((p) => p.name));
  if (config.default !== DIRECT && !names.has(config.default)) {
    throw new ConfigError(`${path}.default: expected "direct" or a pool name (${[...names].join(', ') || 'none defined'}), got ${JSON.stringify(config.default)}`);
  }
  config.routes.forEach((route, i) => {
    if (route.pool !== DIRECT && !names.has(route.pool)) {
      throw new ConfigError(`${path}.routes[${i}].pool: expected "direct" or a pool name (${[...names].join(', ') || 'none defined'}), got ${JSON.stringify(route.pool)}`);
    }
  });
}

/** `--parent URL` (repeatable): the parents of the pool named "default", which becomes the default route. */
export function applyParentFlag(config: ParentsConfig, path: string, value: unknown): void {
  const urls = Array.isArray(value) ? value : [value];
  const parents = urls.map((url) => parseParentUrl(path, url, false));
  let pool = config.pools.find((p) => p.name === DEFAULT_POOL);
  if (!pool) config.pools.push((pool = newPool(DEFAULT_POOL)));
  pool.parents.push(...parents);
  if (config.default === DIRECT) config.default = DEFAULT_POOL;
}

/** A pool's settings from flags (`--parent-password-file`, `--parent-new-connection`) apply to the "default" pool. */
export function defaultPool(config: ParentsConfig, path: string): PoolSpec {
  const pool = config.pools.find((p) => p.name === DEFAULT_POOL);
  if (!pool) throw new ConfigError(`${path}: applies to the --parent pool; give --parent URL too`);
  return pool;
}

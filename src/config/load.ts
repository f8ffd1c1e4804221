// Build the validated config: defaults, then the config file (YAML or JSON), then flags given
// on the command line. Every error is a ConfigError naming the flag or file key.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { requireTokenOffLoopback } from '../admin/host-check.js';
import { ConfigError } from '../errors.js';
import { defaultConfig } from './defaults.js';
import { fileKey, OPTIONS, type OptionName } from './options.js';
import { parseCrawlRules } from './rules-schema.js';
import { DEFAULT_POOL, parseParents, PARENT_PASSWORD_ENV, withPassword } from '../parents/config.js';
import { expectObject, parseBoolean, parsePolicies, parseString, rejectUnknownKeys } from './schema.js';
import { ADMIN_TOKEN_ENV, STORE_PASSWORD_ENV, withStorePassword } from './secrets.js';
import type { ProxyConfig } from './types.js';
import { defaultCliStore } from './user-cache-dir.js';

// Loaded only when a YAML file is read: the parser costs about 8 MiB of RSS (code and heap) in a
// proxy started without a config file, a twelfth of the churn soak's budget (issue 7, Memory).
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof Yaml).parse(text);

const FILE_SECTIONS = ['policies', 'identity', 'rules', 'parents'] as const;

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  return expectObject(file, parsed ?? {});
}

function applyFile(config: ProxyConfig, raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  rejectUnknownKeys('', raw, [...Object.keys(OPTIONS).map(fileKey), ...FILE_SECTIONS]);
  for (const [flag, row] of Object.entries(OPTIONS)) {
    const key = fileKey(flag);
    if (raw[key] !== undefined) row.apply(config, raw[key], key);
  }
  if (raw['identity'] !== undefined) {
    const identity = expectObject('identity', raw['identity']);
    rejectUnknownKeys('identity', identity, ['header', 'requireAuth', 'users']);
    if (identity['header'] !== undefined) config.identity.header = parseString('identity.header', identity['header']).toLowerCase();
    if (identity['requireAuth'] !== undefined) config.identity.requireAuth = parseBoolean('identity.requireAuth', identity['requireAuth']);
    if (identity['users'] !== undefined) {
      const users = expectObject('identity.users', identity['users']);
      config.identity.users = Object.fromEntries(Object.entries(users).map(([name, pw]) => [name, parseString(`identity.users.${name}`, String(pw ?? ''))]));
    }
  }
  if (raw['policies'] !== undefined) config.policies = parsePolicies('policies', raw['policies']);
  if (raw['rules'] !== undefined) config.rules = parseCrawlRules('rules', raw['rules']);
  if (raw['parents'] !== undefined) config.parents = parseParents('parents', raw['parents'], config.parents, env);
}

/** `flags` holds only the options given on the command line (undefined for the rest). */
export function loadConfig(flags: Partial<Record<OptionName, unknown>> & { config?: unknown }, env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  // The CLI keeps its cache on disk, in the user's cache directory (issue 20); createProxy()
  // called from code keeps defaultConfig()'s memory store, so embedding writes no files.
  const config = defaultConfig({ store: defaultCliStore(env) });
  if (flags.config !== undefined) {
    if (typeof flags.config !== 'string' || flags.config === '') throw new ConfigError('--config: expected a file name, got no value');
    applyFile(config, readConfigFile(flags.config), env);
  }
  const tokenFromEnv = env[ADMIN_TOKEN_ENV];
  if (tokenFromEnv && flags['admin-token'] === undefined && flags['admin-token-file'] === undefined) config.admin.token = tokenFromEnv;
  if (flags['admin-token'] !== undefined && flags['admin-token-file'] !== undefined) {
    throw new ConfigError('--admin-token-file: give either --admin-token or --admin-token-file, not both');
  }
  const passwordFromFile = config.storePassword !== undefined;
  for (const [flag, row] of Object.entries(OPTIONS)) {
    const value = flags[flag as OptionName];
    // A boolean flag given alone means true; any other flag given alone is missing its value.
    if (value !== undefined) row.apply(config, row.type === 'boolean' && value === '' ? true : flagValue(value), `--${flag}`);
  }
  const passwordKey = flags['store-password-file'] !== undefined ? '--store-password-file' : passwordFromFile ? 'storePasswordFile' : undefined;
  applyStorePassword(config, passwordKey, env);
  // The --parent pool's password from the environment, for parents with none of their own.
  const parentPool = config.parents.pools.find((pool) => pool.name === DEFAULT_POOL);
  if (parentPool && env[PARENT_PASSWORD_ENV]) withPassword(parentPool, env[PARENT_PASSWORD_ENV]);
  if (config.admin.port !== 0) requireTokenOffLoopback(config.admin);
  return config;
}

/** Flags are parsed as strings (so `--port abc` is reported as given); `--port` alone arrives as "". */
function flagValue(value: unknown): unknown {
  return value === '' ? undefined : value;
}

/** A password file wins over the environment; either one needs a Redis URL without a password. */
function applyStorePassword(config: ProxyConfig, fileKey: string | undefined, env: NodeJS.ProcessEnv): void {
  const fromEnv = env[STORE_PASSWORD_ENV];
  if (!fileKey && fromEnv) {
    // The variable may be set for a whole environment; a memory store simply has no use for it.
    if (config.store === 'memory' || config.store.startsWith('disk:')) return;
    config.storePassword = fromEnv;
  }
  if (config.storePassword === undefined) return;
  // Fails early, at load, for a memory store or a URL that already holds a password.
  withStorePassword(fileKey ?? STORE_PASSWORD_ENV, config.store, config.storePassword);
}

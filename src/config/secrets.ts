// Secrets given out of band, so they stay out of `ps` and shell history: files named by
// --admin-token-file / --store-password-file, and ETAG_PROXY_STORE_PASSWORD. Errors name the key
// and the file, never the secret. Redacting secrets from logs is observe/redact.ts's job.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseString } from './schema.js';

export const STORE_PASSWORD_ENV = 'ETAG_PROXY_STORE_PASSWORD';
export const ADMIN_TOKEN_ENV = 'ETAG_PROXY_ADMIN_TOKEN';

/** The file's contents without the final newline most editors and `echo` add. */
export function readSecretFile(path: string, value: unknown): string {
  const file = parseString(path, value);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new ConfigError(`${path}: ${file} is empty; expected the secret on its first line`);
  if (/[\r\n]/.test(secret)) throw new ConfigError(`${path}: ${file} holds several lines; expected the secret alone`);
  return secret;
}

/**
 * The store URL with `password` in its userinfo (`redis://:pw@host`, `redis://user:pw@host`),
 * percent-encoded as node-redis and redis+cluster:// parsing decode it.
 */
export function withStorePassword(path: string, store: string, password: string): string {
  const match = /^([a-z+]+:\/\/)(?:([^@/]*)@)?(.*)$/i.exec(store);
  if (store === 'memory' || !match) throw new ConfigError(`${path}: a store password needs a Redis store (--store redis://…), got the ${store === 'memory' ? 'memory store' : 'store given'}`);
  const [, scheme, userinfo, rest] = match;
  if (userinfo?.includes(':')) throw new ConfigError(`${path}: the store URL already holds a password; give it in one place`);
  return `${scheme}${userinfo ?? ''}:${encodeURIComponent(password)}@${rest}`;
}

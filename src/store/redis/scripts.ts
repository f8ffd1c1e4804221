// How the Redis backend runs its Lua scripts: each script with its SHA1 (computed once), sent
// as EVALSHA so redis-server neither receives nor hashes the source on every call, and as EVAL
// (which caches it again) when the server answers NOSCRIPT: after a restart, a failover, a
// SCRIPT FLUSH, or on a Cluster node that never ran it. The scripts themselves live with the
// records they read and write (entry-store.ts, coordination.ts).
import { createHash } from 'node:crypto';
import { ErrorReply } from '@redis/client';
import type { RedisArg, RedisConnection } from './connect.js';

export interface LuaScript {
  readonly source: string;
  /** Hex SHA1 of the source: the name redis-server caches it under. */
  readonly sha1: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** Run `script` on `keys` (one Cluster slot: the call is routed by the first) with `args`. */
export async function runScript(redis: RedisConnection, script: LuaScript, keys: readonly string[], args: readonly RedisArg[] = []): Promise<unknown> {
  const route = keys[0];
  if (route === undefined) throw new Error('redis script: expected at least one key to route the call by, got none');
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await redis.command(route, ['EVALSHA', script.sha1, ...tail]);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return redis.command(route, ['EVAL', script.source, ...tail]);
  }
}

/**
 * The script as one command of a MULTI: always EVAL. A NOSCRIPT inside MULTI fails that one
 * command while EXEC still runs the others, so the transaction would stop being all or nothing
 * (a put's SET without the drop of the variants it replaces).
 */
export function evalInTransaction(script: LuaScript, keys: readonly string[], args: readonly RedisArg[] = []): RedisArg[] {
  return ['EVAL', script.source, String(keys.length), ...keys, ...args];
}

function isNoScript(err: unknown): boolean {
  return err instanceof ErrorReply && err.message.startsWith('NOSCRIPT');
}

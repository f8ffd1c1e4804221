// What the /policies and /rules routes share: the fleet's rule document as stored (policies and
// URL rules in one), the 400 for a body that does not validate, and the 503 when the store
// cannot be read or written. Changes are serialised by change-queue.ts.
import { ConfigError, ProxyError, StoreUnavailable } from '../errors.js';
import type { Proxy } from '../index.js';
import type { Logger } from '../observe/log.js';
import { decodeStored, type StoredPolicies } from '../policy/stored-rules.js';

/** A ConfigError from validating a request body is the client's mistake: 400 with its message. */
export function validated<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) throw new ProxyError(400, 'bad_request', error.message);
    throw error;
  }
}

export function unavailable(error: unknown): never {
  if (!(error instanceof StoreUnavailable)) throw error;
  throw new ProxyError(503, 'store_unavailable', `rule store unavailable (${error.message}); rules unchanged`);
}

/** The document a change builds on: the store's, or (when it is unreadable) the one in force here. */
export async function currentDocument(proxy: Proxy, logger: Logger): Promise<StoredPolicies> {
  const engine = proxy.policies;
  let value: unknown;
  try {
    value = await proxy.ctx.backend.rules.load();
  } catch (error) {
    unavailable(error);
  }
  if (value !== undefined) {
    try {
      return decodeStored(value);
    } catch (error) {
      logger.warn('stored rules are unreadable; changing the ones in force here', { error: (error as Error).message });
    }
  }
  return { rules: engine.rules, urlRules: [...engine.crawlRules], seed: engine.seed };
}

// The answer when the proxy is offline (--offline, or a rule or client set offline) and nothing
// stored may answer: lookup and pass both give it.
import { ProxyError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import type { Tx } from './transaction.js';

/** Offline with nothing stored that may answer: a 504 whose body names the URL. */
export function offlineError(tx: Tx): ProxyError {
  return new ProxyError(504, 'offline', `the proxy is offline and has nothing stored for ${redactUrl(tx.target!.href)}`);
}

// What the cache engine (src/cache/semantics.ts) reads of a client's
// request, and whether it carries a body: facts about the request several steps need.
import type { SemanticsRequest } from '../cache/semantics.js';
import type { Tx } from './transaction.js';

/** Does the request carry a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length)? */
export function hasBody(clientReq: Tx['clientReq']): boolean {
  const length = clientReq.headers['content-length'];
  return clientReq.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

const NO_REQUEST_DIRECTIVES: SemanticsRequest = Object.freeze({ url: '', method: 'GET', headers: Object.freeze({}) });

/** What usability() reads of the request: its Cache-Control and Pragma, unless the policy ignores them. */
export function requestDirectives(tx: Tx): SemanticsRequest {
  if (tx.ignoreRequestCacheControl) return NO_REQUEST_DIRECTIVES;
  const cacheControl = tx.clientReq.headers['cache-control'];
  const pragma = tx.clientReq.headers['pragma'];
  if (cacheControl === undefined && pragma === undefined) return NO_REQUEST_DIRECTIVES;
  const headers: Record<string, string> = {};
  if (cacheControl !== undefined) headers['cache-control'] = cacheControl;
  if (pragma !== undefined) headers['pragma'] = pragma;
  return { url: '', method: 'GET', headers };
}

/**
 * The request the cache policy is built with (it keeps only whether it carried Authorization or
 * no-store: cache/response-policy.ts), built when a response is about to be
 * stored or revalidated. Only what the RFC engine reads goes in: the request's caching
 * directives (unless the policy ignores them) and whether it carried Authorization. Trap 1
 * (STYLE.md): never the client's validators; invariant 4: never its cookies, credentials or
 * other fields, which the policy object would otherwise carry into the store.
 */
export function semanticsRequest(tx: Tx): SemanticsRequest {
  if (!tx.semanticsReq) {
    const client = tx.clientReq.headers;
    const headers: Record<string, string> = { host: tx.target!.host };
    if (!tx.ignoreRequestCacheControl) {
      if (client['cache-control'] !== undefined) headers['cache-control'] = client['cache-control'];
      if (client['pragma'] !== undefined) headers['pragma'] = client['pragma'];
    }
    if (client['authorization'] !== undefined) headers['authorization'] = '(present, not stored)';
    tx.semanticsReq = { url: tx.target!.href, method: 'GET', headers };
  }
  return tx.semanticsReq;
}

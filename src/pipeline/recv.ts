// First step: parse the target, identify the client, resolve its policy, plan what happens
// to its validators, and classify the request: synth, pass, or a cache lookup.
import { DETAIL } from '../cache/cache-status.js';
import type { SemanticsRequest } from '../cache/semantics.js';
import { semanticsHeaders } from '../cache/entry.js';
import { urlKey } from '../cache/keys.js';
import { parseRequestTarget } from '../http/request-target.js';
import { MAX_OWN_HOPS, ownHops } from '../http/via.js';
import { ProxyError } from '../errors.js';
import { clientConditionals, CLIENT_CONDITIONAL_FIELDS } from '../policy/conditional-fields.js';
import { isUnconditional, planConditionals, UNCONDITIONAL, type ConditionalPlan } from '../policy/validators.js';
import { selfPage } from './synth.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

const CACHEABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);
// Request fields a client uses to override caching; dropped under requestCacheControl: ignore.
const REQUEST_CACHE_FIELDS = ['cache-control', 'pragma'];

// Synchronous unless the policy must consult the ledger (isolate): a hit should not pay for awaits.
export function recv(tx: Tx): Step | Promise<Step> {
  const { clientReq, ctx } = tx;
  const refused = ctx.guard.clientRefusal(clientReq.socket);
  if (refused) throw refused;
  const target = parseRequestTarget(tx.method, clientReq.url);
  if (target.form === 'origin') return selfPage(tx, target.path);
  if (target.form !== 'absolute') return 'synth';
  if (ctx.isSelf(target.url)) return selfPage(tx, target.url.pathname);
  tx.target = target.url;
  if (clientReq.headers['via'] !== undefined && ownHops(clientReq.headers['via']) >= MAX_OWN_HOPS) {
    throw new ProxyError(508, 'forwarding_loop', `request went through this proxy ${MAX_OWN_HOPS} times (Via): a forwarding loop to ${target.url.host}`);
  }

  tx.client = ctx.policies.identify(clientReq);
  tx.policy = ctx.policies.resolve(tx.client.id, target.url.hostname);
  tx.urlKey = urlKey(target.url);

  if (tx.method === 'PURGE' && ctx.config.purge) return 'purge';
  if (!CACHEABLE_METHODS.has(tx.method)) {
    tx.status.fwd('method').detail(DETAIL.unsafeMethod);
    return 'pass';
  }
  if (hasBody(clientReq)) {
    // A body on GET/HEAD has no defined meaning (RFC 9110 §9.3.1): the origin may read it, so
    // the answer is not the URL's answer. Relay it with its body; never look up or store it.
    tx.status.fwd('bypass').detail(DETAIL.requestBody);
    tx.log.detail = DETAIL.requestBody;
    return 'pass';
  }

  const conditionals = clientConditionals(clientReq);
  if (isUnconditional(conditionals)) return classify(tx, UNCONDITIONAL);
  const client = tx.client.id;
  const key = tx.urlKey;
  const servedHere = (validator: string) => ctx.backend.ledger.wasServed(client, key, validator).catch(() => false);
  return planConditionals(conditionals, tx.policy.validators, servedHere).then((plan) => classify(tx, plan));
}

/** Does the request carry a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length)? */
export function hasBody(clientReq: Tx['clientReq']): boolean {
  const length = clientReq.headers['content-length'];
  return clientReq.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/** GET / HEAD with its validator plan: pass it, or look it up. */
function classify(tx: Tx, plan: ConditionalPlan): Step {
  const { clientReq } = tx;
  tx.conditionals = plan;
  for (const dropped of tx.conditionals.dropped) tx.status.detail(`dropped-${dropped}`);
  if (tx.conditionals.dropped.length) tx.log.dropped = tx.conditionals.dropped.join(',');

  const ignoreRequestCacheControl = tx.policy!.requestCacheControl === 'ignore';
  if (!ignoreRequestCacheControl && /(^|,)\s*no-store\s*(,|$)/i.test(String(clientReq.headers['cache-control'] ?? ''))) {
    tx.status.fwd('request').detail(DETAIL.requestNoStore);
    return 'pass';
  }

  tx.ignoreRequestCacheControl = ignoreRequestCacheControl;
  const requestCacheControl = clientReq.headers['cache-control'];
  if (!ignoreRequestCacheControl && requestCacheControl !== undefined && /only-if-cached/i.test(requestCacheControl)) tx.onlyIfCached = true;
  return 'lookup';
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
 * The request http-cache-semantics stores with a response, built when a response is about to be
 * stored or revalidated. Trap 1 (STYLE.md): it never holds the client's validators.
 */
export function semanticsRequest(tx: Tx): SemanticsRequest {
  if (!tx.semanticsReq) {
    const hidden = tx.ignoreRequestCacheControl ? tx.ctx.hiddenFields.ignoringCacheControl : tx.ctx.hiddenFields.honouringCacheControl;
    const headers = semanticsHeaders(tx.clientReq.headers, hidden);
    headers['host'] = tx.target!.host;
    tx.semanticsReq = { url: tx.target!.href, method: 'GET', headers };
  }
  return tx.semanticsReq;
}

/** Request fields the stored request never keeps: validators, identity, and (when ignored) caching directives. */
export function hiddenRequestFields(identityHeaders: readonly string[]): { honouringCacheControl: ReadonlySet<string>; ignoringCacheControl: ReadonlySet<string> } {
  const always = [...CLIENT_CONDITIONAL_FIELDS, ...identityHeaders];
  return { honouringCacheControl: new Set(always), ignoringCacheControl: new Set([...always, ...REQUEST_CACHE_FIELDS]) };
}

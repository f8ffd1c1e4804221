// First step: parse the target, identify the client, resolve its policy, plan what happens
// to its validators, and classify the request: synth, pass, or a cache lookup.
import { DETAIL } from '../cache/cache-status.js';
import { directiveNames } from '../http/cache-control.js';
import { maxForwards } from '../http/max-forwards.js';
import { parseRequestTarget } from '../http/request-target.js';
import { MAX_OWN_HOPS, ownHops } from '../http/via.js';
import { ProxyError } from '../errors.js';
import { clientConditionals } from '../policy/conditional-fields.js';
import { ledgerClient } from '../policy/identity.js';
import { isUnconditional, planConditionals, UNCONDITIONAL, type ConditionalPlan } from '../policy/validators.js';
import { targetKeyOf } from './cache-key.js';
import { hasBody } from './request-facts.js';
import { answerAsFinalRecipient, selfPage } from './own-pages.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

const CACHEABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

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
  tx.origin = target.origin;
  if (clientReq.headers['via'] !== undefined && ownHops(clientReq.headers['via']) >= MAX_OWN_HOPS) {
    throw new ProxyError(508, 'forwarding_loop', `request went through this proxy ${MAX_OWN_HOPS} times (Via): a forwarding loop to ${target.url.host}`);
  }

  tx.client = ctx.policies.identify(clientReq);
  tx.policy = ctx.policies.resolve(tx.client.id, target.url.hostname);
  tx.rule = ctx.policies.crawlRule(target.url);
  tx.offline = tx.rule.settings.offline ?? tx.policy.offline ?? false;
  tx.record = tx.rule.settings.record ?? ctx.config.record;
  tx.urlKey = targetKeyOf(ctx, target, tx.rule);

  if (tx.method === 'PURGE' && ctx.config.purge) return 'purge';
  if (maxForwards(tx.method, clientReq.headers['max-forwards']).kind === 'answer-here') return answerAsFinalRecipient(tx);
  if (!CACHEABLE_METHODS.has(tx.method)) {
    tx.status.fwd('method').detail(DETAIL.unsafeMethod);
    return 'pass';
  }
  if (tx.rule.settings.store === false) {
    tx.status.fwd('bypass').detail(DETAIL.ruleNoStore);
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
  const client = ledgerClient(tx.client);
  const key = tx.urlKey;
  const servedHere = (validator: string) => ctx.backend.ledger.wasServed(client, key, validator).catch(() => false);
  return planConditionals(conditionals, tx.policy.validators, servedHere).then((plan) => classify(tx, plan));
}

/** GET / HEAD with its validator plan: pass it, or look it up. */
function classify(tx: Tx, plan: ConditionalPlan): Step {
  const { clientReq } = tx;
  tx.conditionals = plan;
  for (const dropped of tx.conditionals.dropped) tx.status.detail(`dropped-${dropped}`);
  if (tx.conditionals.dropped.length) tx.log.dropped = tx.conditionals.dropped.join(',');

  const ignoreRequestCacheControl = tx.policy!.requestCacheControl === 'ignore';
  tx.ignoreRequestCacheControl = ignoreRequestCacheControl;
  const requestCacheControl = clientReq.headers['cache-control'];
  if (!ignoreRequestCacheControl && requestCacheControl !== undefined) {
    const directives = directiveNames(requestCacheControl);
    if (directives.has('no-store')) {
      tx.status.fwd('request').detail(DETAIL.requestNoStore);
      return 'pass';
    }
    if (directives.has('only-if-cached')) tx.onlyIfCached = true;
  }
  return 'lookup';
}

// May this origin response be stored? RFC 9111 §3 (through semantics) plus our own limits and
// the crawl rule's levers. A rule that overrides `private` stores private and cookie-setting
// responses per client (the verified client identity joins the key), never shared (invariant 2).
import type { ResponsePolicy } from '../cache/response-policy.js';
import { DETAIL } from '../cache/cache-status.js';
import { policyHeaders } from '../cache/entry.js';
import { directiveNames } from '../http/cache-control.js';
import type { SemanticsRequest } from '../cache/semantics.js';
import type { CrawlSettings, OverrideToken, ResolvedCrawlRule } from '../policy/crawl-rules.js';
import type { ProxyContext } from './context.js';
import { semanticsRequest } from './request-facts.js';
import type { Tx } from './transaction.js';
import type { OriginResponse } from '../http/origin-response.js';

export type StorageDecision = 'store' | 'too-large' | 'not-storable' | 'vary-star' | 'set-cookie' | 'rule-status';

export interface StorageVerdict {
  decision: StorageDecision;
  policy: ResponsePolicy;
  /** Stored for the requesting client only. */
  perClient: boolean;
  /** Override tokens that made it storable or changed its freshness. */
  overridden: readonly string[];
  /** Those a crawl rule's `override` named (Cache-Status detail=rule-override); recording's own are not. */
  ruleOverridden: readonly string[];
}

/** --record / record: true: a 2xx GET is kept even against no-store or private (per client). */
function recordingSettings(settings: CrawlSettings | undefined): CrawlSettings {
  const override = new Set<OverrideToken>([...(settings?.override ?? []), 'no-store', 'private']);
  return { ...settings, override: [...override] };
}

export function storageVerdict(
  ctx: ProxyContext,
  semanticsReq: SemanticsRequest,
  originRes: OriginResponse,
  rule: ResolvedCrawlRule | undefined,
  recording = false,
): StorageVerdict {
  const res = { status: originRes.statusCode ?? 0, headers: policyHeaders(originRes.headers), rawHeaders: originRes.rawHeaders };
  const settings = recording && res.status >= 200 && res.status < 300 ? recordingSettings(rule?.settings) : rule?.settings;
  let cookiePerClient = false;
  if (res.headers['set-cookie'] !== undefined && settings?.override?.includes('private')) {
    // The cookie is never stored (entry.ts); the page made for it is kept for its client alone,
    // so the shared-cache rule that gives it no freshness (cache/freshness.ts) does not apply.
    delete res.headers['set-cookie'];
    cookiePerClient = true;
  }
  const policy = ctx.semantics.policyFor(semanticsReq, res, settings);
  const overridden = [...ctx.semantics.ruleOverrides(policy)];
  if (cookiePerClient && !overridden.includes('private')) overridden.push('private');
  const perClient = overridden.includes('private');
  const reason = ctx.semantics.unstorableReason(policy, res);
  // --record (or a rule's record: true) lifts no-store and private by itself: detail=recorded says so.
  const fromRule = new Set<string>(rule?.settings.override ?? []);
  const ruleOverridden = settings === rule?.settings ? overridden : overridden.filter((token) => fromRule.has(token));
  const verdict = (decision: StorageDecision): StorageVerdict => ({ decision, policy, perClient, overridden, ruleOverridden });
  if (reason) return verdict(reason === 'vary-star' || reason === 'set-cookie' ? reason : 'not-storable');
  const statuses = rule?.settings.statuses;
  if (statuses && !statuses.includes(res.status)) return verdict('rule-status');
  const length = Number(originRes.headers['content-length'] ?? NaN);
  if (length > maxObjectSize(ctx, rule, originRes.headers)) return verdict('too-large');
  return verdict('store');
}

export function decideStorage(tx: Tx): StorageDecision {
  if (plainNoStore(tx)) return 'not-storable';
  const verdict = storageVerdict(tx.ctx, semanticsRequest(tx), tx.originRes!, tx.rule, tx.record);
  if (verdict.decision !== 'store') return verdict.decision;
  if (tx.record) {
    tx.status.detail(DETAIL.recorded);
    tx.log.recorded = true;
  }
  tx.entryPolicy = verdict.policy;
  tx.perClient = verdict.perClient;
  tx.entryRuleOverride = verdict.ruleOverridden.length > 0;
  if (tx.entryRuleOverride) markOverride(tx, verdict.ruleOverridden);
  return 'store';
}

/**
 * The usual no-store answer of an API: not storable (RFC 9111 §3), decided from Cache-Control
 * alone, without the policy the other answers need. Not when something could still keep it:
 * must-understand (§5.2.2.3), a crawl rule's override, --record, or a targeted field (RFC 9213).
 */
function plainNoStore(tx: Tx): boolean {
  if (tx.record || tx.rule?.settings.override?.length) return false;
  const headers = tx.originRes!.headers;
  const targeted = tx.ctx.config.targetedCacheControl;
  if (targeted && headers[targeted] !== undefined) return false;
  return saysNoStore(headers['cache-control']);
}

// An origin answers an uncacheable URL with the same Cache-Control every time: its verdict is kept.
let lastCacheControl: string | undefined;
let lastSaysNoStore = false;

function saysNoStore(cacheControl: string | undefined): boolean {
  if (cacheControl !== lastCacheControl) {
    const names = directiveNames(cacheControl);
    lastSaysNoStore = names.has('no-store') && !names.has('must-understand');
    lastCacheControl = cacheControl;
  }
  return lastSaysNoStore;
}

/**
 * The size cap for these URLs: the rule's maxObjectSize, else --max-object-size, and never more
 * than the store can keep beside these header fields (the memory store's --cache-size): a body
 * that could not be stored is not buffered for the store, nor announced `stored`.
 */
export function maxObjectSize(ctx: ProxyContext, rule: ResolvedCrawlRule | undefined, headers: OriginResponse['headers']): number {
  const cap = rule?.settings.maxObjectSize ?? ctx.config.maxObjectSizeBytes;
  const storable = ctx.backend.entries.maxBodyBytes?.(headers);
  return storable === undefined ? cap : Math.min(cap, storable);
}

/** Cache-Status detail=rule-override and the log line's `override` field. */
export function markOverride(tx: Tx, tokens?: readonly string[]): void {
  tx.status.detail(DETAIL.ruleOverride);
  tx.log.override = tokens?.join(',') ?? true;
}

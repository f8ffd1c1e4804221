// Which key a request's URL is looked up and stored under: keys.ts builds it from the crawl
// rule's query levers (ignoreQuery, sortQuery) and what the origin last said in No-Vary-Search
// for that path (remembered per process). The origin still gets the URL as sent.
import { pathKey, urlKey } from '../cache/keys.js';
import { parseNoVarySearch, withHint, type QueryRule } from '../cache/no-vary-search.js';
import type { AbsoluteTarget } from '../http/request-target.js';
import type { ResolvedCrawlRule } from '../policy/crawl-rules.js';
import type { ProxyContext } from './context.js';
import type { Tx } from './transaction.js';

export function queryRuleFor(ctx: ProxyContext, url: URL, rule: ResolvedCrawlRule | undefined): QueryRule | undefined {
  const hint = ctx.noVarySearch.size ? ctx.noVarySearch.get(pathKey(url)) : undefined;
  return withHint(rule?.query, hint);
}

export function keyOf(ctx: ProxyContext, url: URL, rule: ResolvedCrawlRule | undefined): string {
  return urlKey(url, queryRuleFor(ctx, url, rule));
}

/** keyOf for a parsed request-target: without a query rule, the key kept with the memoised target (no memo lookup). */
export function targetKeyOf(ctx: ProxyContext, target: AbsoluteTarget, rule: ResolvedCrawlRule | undefined): string {
  const query = queryRuleFor(ctx, target.url, rule);
  if (query) return urlKey(target.url, query);
  return (target.key ??= urlKey(target.url));
}

/**
 * After the origin answered: learn (or forget) its No-Vary-Search for this path, and return the
 * key the response is stored under (the request's own, unless No-Vary-Search changed it).
 */
export function keyAfterResponse(tx: Tx, noVarySearch: string | string[] | undefined): string {
  const { ctx } = tx;
  const target = tx.target!;
  const said = parseNoVarySearch(noVarySearch);
  if (!said && !ctx.noVarySearch.size) return tx.urlKey!;
  const path = pathKey(target);
  if (!said && ctx.noVarySearch.get(path) === undefined) return tx.urlKey!;
  ctx.noVarySearch.learn(path, said);
  return urlKey(target, withHint(tx.rule?.query, said));
}

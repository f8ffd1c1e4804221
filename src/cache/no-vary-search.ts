// The No-Vary-Search response field (draft-ietf-httpbis-no-vary-search), its basic forms:
// `params` (no query parameter matters), `params=("a" "b")` (these do not), `params,
// except=("id")` (only these do), and `key-order` (their order does not). The parse is pure;
// the hints remember, per URL without query and per process, what the origin last said, so the
// next request's key can be normalised before anything is fetched.
import { boundedMemo } from '../bounded-memo.js';

export interface QueryRule {
  /** Is this decoded parameter name left out of the key? (a crawl rule's ignoreQuery globs) */
  ignore?: (name: string) => boolean;
  /** Parameter order does not matter (sortQuery, or No-Vary-Search key-order). */
  sort?: boolean;
  /** Names that do not matter (params=(…)), or 'all' (params) with the names that still do. */
  noVary?: { names: ReadonlySet<string> } | { all: true; except: ReadonlySet<string> };
}

/** A parsed No-Vary-Search value; undefined when absent or invalid (the draft: then ignore it). */
export function parseNoVarySearch(value: string | string[] | undefined): Pick<QueryRule, 'sort' | 'noVary'> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(', ') : value;
  const members = new Map<string, string | true>();
  // RFC 8941 §3.2 dictionary: key[=value], comma-separated; inner lists hold no commas.
  const memberRe = /\s*([a-z*][a-z0-9_\-.*]*)(?:=(\?[01]|\([^)]*\)))?\s*(?:,|$)/gy;
  let at = 0;
  while (at < text.length) {
    memberRe.lastIndex = at;
    const match = memberRe.exec(text);
    if (!match || match[0] === '') return undefined;
    members.set(match[1]!, match[2] ?? true);
    at = memberRe.lastIndex;
  }
  const out: Pick<QueryRule, 'sort' | 'noVary'> = {};
  const keyOrder = members.get('key-order');
  if (keyOrder !== undefined) {
    if (keyOrder !== true && keyOrder !== '?1' && keyOrder !== '?0') return undefined;
    if (keyOrder !== '?0') out.sort = true;
  }
  const params = members.get('params');
  const except = members.get('except');
  if (params === true || params === '?1') {
    const kept = except === undefined ? [] : innerList(except);
    if (!kept) return undefined;
    out.noVary = { all: true, except: new Set(kept) };
  } else if (typeof params === 'string' && params.startsWith('(')) {
    const names = innerList(params);
    if (!names) return undefined;
    out.noVary = { names: new Set(names) };
  }
  return out.sort || out.noVary ? out : undefined;
}

/** `("a" "b")` → ['a', 'b']; undefined unless every item is a string. */
function innerList(value: string | true): string[] | undefined {
  if (value === true || !value.startsWith('(')) return undefined;
  const inner = value.slice(1, -1).trim();
  if (inner === '') return [];
  const items = inner.split(/\s+/);
  if (!items.every((item) => /^"(?:[^"\\]|\\["\\])*"$/.test(item))) return undefined;
  return items.map((item) => item.slice(1, -1).replace(/\\(["\\])/g, '$1'));
}

/** A crawl rule's query levers with what the origin said: either one leaving a parameter out wins. */
export function withHint(rule: QueryRule | undefined, hint: Pick<QueryRule, 'sort' | 'noVary'> | undefined): QueryRule | undefined {
  if (!hint) return rule;
  if (!rule) return hint;
  return { ...rule, sort: !!(rule.sort || hint.sort), ...(hint.noVary && { noVary: hint.noVary }) };
}

const namesBytes = (names: ReadonlySet<string>): number => {
  let bytes = 0;
  for (const name of names) bytes += 40 + name.length;
  return bytes;
};

/** What each URL (without query) last said in No-Vary-Search, in this process: the 10,000 most recent paths, within about 2 MiB. */
export class NoVarySearchHints {
  private readonly hints = boundedMemo<Pick<QueryRule, 'sort' | 'noVary'>>('no-vary-search-hints', 10_000, 2 * 1024 * 1024, ({ noVary }) =>
    !noVary ? 0 : namesBytes('all' in noVary ? noVary.except : noVary.names),
  );

  get(pathKey: string): Pick<QueryRule, 'sort' | 'noVary'> | undefined {
    return this.hints.get(pathKey);
  }

  get size(): number {
    return this.hints.size;
  }

  /** Record (or forget, when `hint` is undefined) what the origin said for this path. */
  learn(pathKey: string, hint: Pick<QueryRule, 'sort' | 'noVary'> | undefined): void {
    if (!hint) {
      this.hints.delete(pathKey);
      return;
    }
    this.hints.set(pathKey, hint);
  }
}

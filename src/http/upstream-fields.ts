// Which of a client's request fields go upstream, on which path: one table, after Varnish's
// filter table (include/tbl/http_headers.h, its F/P/... flags). Every forwarding path builds its
// origin request's fields from it (forward-headers.ts); the response side is hop-by-hop.ts alone.
// A field in no row is end-to-end and sent as the client sent it; a hop-by-hop field in no row
// (hop-by-hop.ts), or one the Connection field names, is never sent.
import { HOP_BY_HOP } from './hop-by-hop.js';

/** The ways a request reaches the origin. */
export const UPSTREAM_PATHS = [
  /** GET / HEAD with nothing usable stored (pipeline/fetch.ts). */
  'miss',
  /** GET for a stored entry, with its validators; a background revalidation too (pipeline/revalidate.ts). */
  'revalidation',
  /** GET / HEAD the cache does not answer: Authorization, Range, a body, no-store (pipeline/pass.ts). */
  'pass',
  /** Any other method, body streamed as sent (pipeline/pass.ts). */
  'unsafe',
  /** An Upgrade request (WebSocket), joined to the origin after its 101 (pipeline/upgrade.ts). */
  'upgrade',
] as const;
export type UpstreamPath = (typeof UPSTREAM_PATHS)[number];

/**
 * - `sent`: the client's value, as sent.
 * - `adjusted`: the client's value with the proxy's change to it (Via appended to, Max-Forwards one less).
 * - `own`: never the client's: the proxy sends its own value, or none.
 * - `planned`: the client's validators only as its validator policy plans them (policy/validators.ts).
 * - `dropped`: never sent.
 */
export type FieldRule = 'sent' | 'adjusted' | 'own' | 'planned' | 'dropped';

type Row = Readonly<Record<UpstreamPath, FieldRule>>;

const everywhere = (rule: FieldRule): Row => ({ miss: rule, revalidation: rule, pass: rule, unsafe: rule, upgrade: rule });

/** The client's If-None-Match / If-Modified-Since and Range / If-Range on the paths of a GET. */
const CONDITIONAL: Row = { miss: 'planned', revalidation: 'own', pass: 'planned', unsafe: 'sent', upgrade: 'sent' };
const PARTIAL: Row = { miss: 'planned', revalidation: 'dropped', pass: 'planned', unsafe: 'sent', upgrade: 'sent' };
/** The body's framing describes what the proxy sends, never copied (STYLE.md invariant 1). */
const FRAMING: Row = { miss: 'dropped', revalidation: 'dropped', pass: 'own', unsafe: 'own', upgrade: 'dropped' };
/** Hop-by-hop, except that a relayed upgrade sends its own (RFC 9110 §7.8). */
const UPGRADE_OWN: Row = { ...everywhere('dropped'), upgrade: 'own' };

export const UPSTREAM_FIELDS: Readonly<Record<string, Row>> = {
  host: everywhere('own'), // RFC 9112 §3.2.2: the target's authority
  via: everywhere('adjusted'), // RFC 9110 §7.6.3: ours appended
  'max-forwards': { ...everywhere('sent'), unsafe: 'adjusted' }, // RFC 9110 §7.6.2: one less on OPTIONS
  expect: everywhere('dropped'), // RFC 9110 §10.1.1: answered by this proxy (node sends 100 Continue)
  'content-length': FRAMING, // RFC 9112 §6.2
  'transfer-encoding': FRAMING, // RFC 9112 §6.1 (hop-by-hop too)
  'if-none-match': CONDITIONAL, // RFC 9110 §13.1.2; STYLE.md trap 1: a revalidation sends the entry's
  'if-modified-since': CONDITIONAL, // RFC 9110 §13.1.3
  range: PARTIAL, // RFC 9110 §14.2: no partial content is stored
  'if-range': PARTIAL, // RFC 9110 §13.1.5
  connection: UPGRADE_OWN, // RFC 9110 §7.6.1
  upgrade: UPGRADE_OWN, // RFC 9110 §7.8
  'proxy-authorization': everywhere('dropped'), // RFC 9110 §11.7.2, invariant 7: consumed by this proxy
};

/**
 * Fields a deployment names for the proxy itself (the client identity header, the parents'
 * session header): they say who the client is to this proxy and never go upstream.
 */
export const PROXY_OWN_FIELDS: Row = everywhere('dropped');

/** The rule for `name` (lower case) on `path`; `proxyOwn` are the deployment's own field names. */
export function upstreamRule(name: string, path: UpstreamPath, proxyOwn: readonly string[] = []): FieldRule {
  const row = UPSTREAM_FIELDS[name];
  if (row) return row[path];
  if (proxyOwn.includes(name)) return PROXY_OWN_FIELDS[path];
  return (HOP_BY_HOP as readonly string[]).includes(name) ? 'dropped' : 'sent';
}

const memo = new WeakMap<readonly string[], Map<UpstreamPath, ReadonlySet<string>>>();

/**
 * The client fields not copied on `path`: every field whose rule is not `sent` or `adjusted`
 * (hop-by-hop ones are dropped by endToEnd in any case). Built once per list of the
 * deployment's own fields (fixed for a proxy's life), not per request.
 */
export function notCopied(path: UpstreamPath, proxyOwn: readonly string[]): ReadonlySet<string> {
  let byPath = memo.get(proxyOwn);
  if (!byPath) memo.set(proxyOwn, (byPath = new Map()));
  let set = byPath.get(path);
  if (!set) {
    const names = [...Object.keys(UPSTREAM_FIELDS), ...proxyOwn].filter((name) => {
      const rule = upstreamRule(name, path, proxyOwn);
      return rule !== 'sent' && rule !== 'adjusted';
    });
    byPath.set(path, (set = new Set(names)));
  }
  return set;
}

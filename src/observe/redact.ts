// What a log line must never show (STYLE.md invariant 4): the values of query parameters that
// carry credentials, and the password in a URL's userinfo. Every log line that prints a URL
// (the request line in pipeline/finish.ts, the admin line, the store URL) goes through here.
// The rest of the URL is kept byte for byte, so a redacted line still names the resource.

/** Query parameters whose values are credentials (compared case-insensitively). */
export const SECRET_QUERY_PARAMS = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'apikey',
  'key',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'sig',
  'signature',
  'auth',
  'session',
  'sessionid',
  'jwt',
] as const;

/** Names ending in these (after `_`, `-` or `.`) are secret too: `x-amz-signature`, `oauth_token`. */
export const SECRET_QUERY_SUFFIXES = ['token', 'secret', 'signature', 'password', 'key'] as const;

export const REDACTED = '***';

const EXACT = new Set<string>(SECRET_QUERY_PARAMS);
const SUFFIX = new RegExp(`[-_.](?:${SECRET_QUERY_SUFFIXES.join('|')})$`);

export function isSecretQueryParam(name: string): boolean {
  let decoded = name;
  if (name.includes('%') || name.includes('+')) {
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // Malformed percent-encoding: judge the name as written.
    }
  }
  const lower = decoded.toLowerCase();
  return EXACT.has(lower) || SUFFIX.test(lower);
}

/**
 * The URL (absolute or origin-form) with secret query values and any userinfo password replaced
 * by `***`. Cheap when there is nothing to hide: the request log calls it for every request.
 */
export function redactUrl(url: string): string {
  let out = url;
  const scheme = out.indexOf('://');
  if (scheme >= 0 && out.includes('@')) out = redactUserinfo(out, scheme + 3);
  const query = out.indexOf('?');
  if (query < 0) return out;
  const hash = out.indexOf('#', query);
  const end = hash < 0 ? out.length : hash;
  const pairs = out.slice(query + 1, end).split('&');
  let changed = false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const eq = pair.indexOf('=');
    if (eq < 0 || !isSecretQueryParam(pair.slice(0, eq))) continue;
    pairs[i] = `${pair.slice(0, eq + 1)}${REDACTED}`;
    changed = true;
  }
  // A fragment never reaches a proxy in a valid request; drop it rather than judge its contents.
  return changed || hash >= 0 ? `${out.slice(0, query + 1)}${pairs.join('&')}` : out;
}

/** `redis://user:pass@host` → `redis://user:***@host`; `redis://pass@host` (no user) → `redis://***@host`. */
function redactUserinfo(url: string, start: number): string {
  const authorityEnd = url.slice(start).search(/[/?#]/);
  const authority = authorityEnd < 0 ? url.slice(start) : url.slice(start, start + authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const shown = colon < 0 ? REDACTED : `${userinfo.slice(0, colon)}:${REDACTED}`;
  return `${url.slice(0, start)}${shown}${url.slice(start + at)}`;
}

/**
 * A CONNECT authority (`host:port`) as it may be logged: anything that is not plainly
 * `host:port` (userinfo, a query, a path) is cut to `***`, since it can only carry a secret or junk.
 */
export function redactAuthority(authority: string): string {
  if (/^(\[[0-9A-Fa-f:.]+\]|[^\s:/?#@[\]]+):\d{1,5}$/.test(authority)) return authority;
  const host = /^[^\s/?#@]*?(?=[@/?#]|$)/.exec(authority)?.[0] ?? '';
  return `${authority.includes('@') ? '' : host}${REDACTED}`;
}

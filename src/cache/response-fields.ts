// The response fields as the RFC rules must read them, corrected before the cache policy is
// built from them (cache/response-policy.ts): strict HTTP-dates (RFC 9110 §5.6.7), one Expires only
// (RFC 9111 §5.3), Age as delta-seconds (§5.1), case-insensitive directive names (§5.2), and a
// targeted field such as CDN-Cache-Control taking over from Cache-Control (RFC 9213 §2.2).
import { lowerCaseDirectiveNames } from '../http/cache-control.js';
import { formatHttpDate, parseHttpDate } from '../http/http-date.js';

/** RFC 9111 §1.2.2: the largest Age a cache must be able to send. */
export const MAX_AGE_SECONDS = 2147483648;

export interface FieldOptions {
  now: number;
  /** Lower-case name of a targeted Cache-Control field (RFC 9213), if this cache has one. */
  targetedCacheControl?: string;
}

/** Corrected copy of `headers` (lower-case names, flattened); `rawHeaders` reveals repeated lines. */
export function fieldsForPolicy(headers: Record<string, string>, rawHeaders: readonly string[] | undefined, options: FieldOptions): Record<string, string> {
  const out: Record<string, string> = { ...headers };
  const targeted = options.targetedCacheControl ? validTargetedField(headers[options.targetedCacheControl]) : undefined;
  if (targeted !== undefined) {
    // RFC 9213 §2.2: a valid targeted field is used, and Cache-Control and Expires are ignored.
    out['cache-control'] = targeted;
    delete out['expires'];
    delete out['pragma'];
  } else if (out['cache-control'] !== undefined) {
    out['cache-control'] = lowerCaseDirectiveNames(out['cache-control']);
  }
  if (out['expires'] !== undefined) {
    // RFC 9111 §5.3: an invalid Expires (several of them is one) means "already expired".
    const expires = countLines(rawHeaders, 'expires') > 1 ? NaN : parseHttpDate(out['expires'], options.now);
    out['expires'] = Number.isNaN(expires) ? '0' : formatHttpDate(expires);
  }
  for (const name of ['date', 'last-modified']) {
    if (out[name] === undefined) continue;
    const time = parseHttpDate(out[name], options.now);
    if (Number.isNaN(time)) delete out[name];
    else out[name] = formatHttpDate(time);
  }
  if (out['age'] !== undefined) {
    // RFC 9111 §5.1: a list-valued Age counts by its first member (the rest are discarded), which
    // must be delta-seconds or the field is ignored; a value too large to represent becomes 2^31.
    const first = out['age'].split(',')[0]!.trim();
    if (/^\d+$/.test(first)) out['age'] = String(Math.min(Number(first), MAX_AGE_SECONDS));
    else delete out['age'];
  }
  return out;
}

function countLines(rawHeaders: readonly string[] | undefined, name: string): number {
  if (!rawHeaders) return 1;
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) count++;
  return count;
}

// RFC 9213 §2.1: the targeted field is a Structured Fields Dictionary (RFC 8941 §3.2). We accept
// keys with an optional integer, decimal, boolean, token or string value; anything else makes it
// invalid (ignored, §2.2).
const SF_MEMBER = /^[a-z*][a-z0-9_\-.*]*(?:=(?:-?\d{1,15}|-?\d{1,12}\.\d{1,3}|\?[01]|[A-Za-z*][!#$%&'*+\-.^_`|~:/\w]*|"(?:[^"\\]|\\["\\])*"))?(?:;[a-z*][a-z0-9_\-.*]*(?:=[^;,]+)?)*$/;

// RFC 9213 §2.1: these directives' values map to Integers (delta-seconds, RFC 9111 §1.2.2).
const DELTA_SECONDS: ReadonlySet<string> = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);
// The freshness lifetimes among them: RFC 9111 §4.2.1 asks that an invalid one make the response stale.
const LIFETIMES: ReadonlySet<string> = new Set(['max-age', 's-maxage']);

function validTargetedField(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const members = value.split(',').map((m) => m.trim());
  if (!members.length || members.some((m) => !SF_MEMBER.test(m))) return undefined;
  // The cache policy reads Cache-Control syntax: the sf parameters it would not know are
  // stripped, and each value is rewritten in Cache-Control form.
  const directives: string[] = [];
  for (const member of members) {
    const bare = member.split(';')[0]!;
    const at = bare.indexOf('=');
    const name = at === -1 ? bare : bare.slice(0, at);
    const raw = at === -1 ? undefined : bare.slice(at + 1);
    if (raw === '?0') continue; // Boolean false: the directive is not there
    if (DELTA_SECONDS.has(name) && (raw === undefined || !/^\d{1,15}$/.test(raw))) {
      // RFC 9213 §2.1: a value of another type (a string such as max-age="60", a decimal, a
      // boolean, a negative number) is not consumed; a freshness lifetime that is not an
      // integer is invalid freshness information, hence stale (RFC 9111 §4.2.1).
      if (LIFETIMES.has(name)) directives.push(`${name}=0`);
      continue;
    }
    directives.push(raw === undefined || raw === '?1' ? name : `${name}=${raw.replace(/^"(.*)"$/, '$1')}`);
  }
  return directives.join(', ');
}

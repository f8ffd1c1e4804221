// Evaluating a client's conditional GET/HEAD against a stored response
// (RFC 9111 §4.3.2, RFC 9110 §13.1.2 and §13.1.3, precedence from §13.2.2).
import { parseHttpDate } from './http-date.js';

export interface ClientValidators {
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

/** Entity tags listed in an If-None-Match value; '*' matches any current representation. */
export function parseEtagList(value: string): string[] {
  const tags: string[] = [];
  const re = /\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  let match: RegExpExecArray | null;
  while ((match = re.exec(value)) !== null && match[0] !== '') tags.push(match[1]!);
  return tags;
}

/** Weak comparison (RFC 9110 §8.8.3.2): opaque-tags equal, W/ prefixes ignored. */
export function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** True when the stored response is "not modified" for these validators: answer 304. */
export function notModified(
  validators: ClientValidators,
  stored: { etag?: string; lastModified?: string; date?: string },
  now = Date.now(), // places RFC 850 two-digit years; steps pass ctx.now()
): boolean {
  if (validators.ifNoneMatch !== undefined) {
    // §13.2.2 step 3: If-None-Match present, If-Modified-Since is ignored.
    if (!stored.etag) return false;
    const tags = parseEtagList(validators.ifNoneMatch);
    return tags.some((tag) => tag === '*' || weakMatch(tag, stored.etag!));
  }
  if (validators.ifModifiedSince !== undefined) {
    // RFC 9110 §13.1.3: an If-Modified-Since that is not a valid HTTP-date is ignored.
    const since = parseHttpDate(validators.ifModifiedSince, now);
    // RFC 9111 §4.3.2: compare with Last-Modified, or Date when there is none.
    const modified = parseHttpDate(stored.lastModified ?? stored.date, now);
    if (Number.isNaN(since) || Number.isNaN(modified)) return false;
    return modified <= since;
  }
  return false;
}

export function hasValidators(v: ClientValidators): boolean {
  return v.ifNoneMatch !== undefined || v.ifModifiedSince !== undefined;
}

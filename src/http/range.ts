// Byte ranges served from a stored complete response (RFC 9110 §14): one range per request
// (first-last, first-, -suffix), If-Range against the stored validator (§13.1.5). A range set
// of several parts, or another unit, is answered with the whole 200 (a server may ignore Range).

export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/** What to answer to `Range: range` for a body of `length` bytes. */
export function planRange(range: string, length: number): RangeAnswer {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'full' };
  if (match[1] === '') {
    // Suffix range: the last N bytes (RFC 9110 §14.1.2); "-0" selects nothing.
    const suffix = Number(match[2]);
    if (suffix === 0 || length === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? length - 1 : Math.min(Number(match[2]), length - 1);
  if (match[2] !== '' && Number(match[2]) < start) return { kind: 'full' }; // invalid range-spec: ignore Range
  if (start >= length) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

/**
 * RFC 9110 §13.1.5: If-Range with an entity-tag matches only by strong comparison; with a date,
 * only a Last-Modified equal to it. A failed If-Range means "send the whole thing".
 */
export function ifRangeMatches(ifRange: string | undefined, stored: { etag?: string; lastModified?: string }): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    return !value.startsWith('W/') && stored.etag !== undefined && !stored.etag.startsWith('W/') && value === stored.etag;
  }
  return stored.lastModified !== undefined && value === stored.lastModified;
}

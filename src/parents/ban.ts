// Ban markers (per pool): an answer that says the exit was blocked rather than what the origin
// holds, told by its status (403, 429, …), a header field (present, or matching a pattern), or a
// pattern in the first bytes of its body (a captcha page answered with 200).
// Such an answer is never stored and never replaces an entry: upstream.ts turns it into a
// failure of the parent (cooldown, one retry on another), so the pipeline never sees it.
import type { IncomingHttpHeaders } from 'node:http';
import { RE2JS } from 're2js';
import { ConfigError } from '../errors.js';
import { expectObject, parseInteger, parseString, rejectUnknownKeys } from '../config/schema.js';

export interface BanMarkers {
  statuses: number[];
  /** Lower-case header name, and a pattern its value must match (none: present is enough). */
  header?: { name: string; pattern?: (value: string) => boolean };
  /** A pattern looked for in the first BAN_BODY_BYTES of the body, decoded latin1. */
  body?: (head: string) => boolean;
}

/**
 * How much of a body a ban marker looks at: ban pages say so at the top (title, first lines),
 * and holding more would delay every answer of the pool and keep more of it in memory.
 */
export const BAN_BODY_BYTES = 4096;

/** A ban pattern, compiled by RE2 (re2js) as URL rules are: the text comes from a parent or an origin, and a JavaScript RegExp such as `(a+)+$` could backtrack for seconds on a hostile one. */
function compilePattern(path: string, value: unknown): (text: string) => boolean {
  const source = parseString(path, value);
  if (source.length > 256) throw new ConfigError(`${path}: expected a regular expression of at most 256 characters, got ${source.length}`);
  try {
    const re = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
    return (text) => re.test(text);
  } catch (error) {
    throw new ConfigError(`${path}: expected a regular expression, got ${JSON.stringify(source)} (${(error as Error).message})`);
  }
}

/** `ban: { status: [403, 429], header: "x-blocked" | { name, pattern }, body: "pattern" }`. */
export function parseBanMarkers(path: string, value: unknown): BanMarkers {
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, ['status', 'header', 'body']);
  const statuses = raw['status'] === undefined ? [] : (Array.isArray(raw['status']) ? raw['status'] : [raw['status']]).map((s, i) => parseInteger(`${path}.status[${i}]`, s, 200, 599));
  const markers: BanMarkers = { statuses };
  if (raw['header'] !== undefined) {
    if (typeof raw['header'] === 'string') markers.header = { name: parseString(`${path}.header`, raw['header']).toLowerCase() };
    else {
      const header = expectObject(`${path}.header`, raw['header']);
      rejectUnknownKeys(`${path}.header`, header, ['name', 'pattern']);
      markers.header = { name: parseString(`${path}.header.name`, header['name']).toLowerCase() };
      if (header['pattern'] !== undefined) markers.header.pattern = compilePattern(`${path}.header.pattern`, header['pattern']);
    }
  }
  if (raw['body'] !== undefined) markers.body = compilePattern(`${path}.body`, raw['body']);
  if (!statuses.length && !markers.header && !markers.body) throw new ConfigError(`${path}: expected status, header and/or body`);
  return markers;
}

/** Why an answer is a ban (for the log and the 502), or undefined when it is not one. */
export function banReason(markers: BanMarkers | undefined, status: number, headers: IncomingHttpHeaders): string | undefined {
  if (!markers) return undefined;
  if (markers.statuses.includes(status)) return `status ${status}`;
  const header = markers.header;
  if (!header) return undefined;
  const value = headers[header.name];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(', ') : value;
  // Header values are bounded by the parser (16 KiB); the pattern by its length.
  if (header.pattern && !header.pattern(text.slice(0, 1024))) return undefined;
  return `header ${header.name}`;
}

/** Whether an answer's body may hold a ban page worth peeking at: it has one (not HEAD, 204, 304, or empty). */
export function bodyMayBan(markers: BanMarkers | undefined, method: string, status: number, headers: IncomingHttpHeaders): boolean {
  return markers?.body !== undefined && method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304 && headers['content-length'] !== '0';
}

/** Why the first bytes of a body are a ban page, or undefined. */
export function bodyBanReason(markers: BanMarkers | undefined, head: Buffer): string | undefined {
  if (!markers?.body) return undefined;
  return markers.body(head.toString('latin1', 0, BAN_BODY_BYTES)) ? 'body pattern' : undefined;
}

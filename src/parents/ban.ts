// Ban markers (per pool): an answer that says the exit was blocked rather than what the origin
// holds, told by its status (403, 429, …) or a header field (present, or matching a pattern).
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
}

/** `ban: { status: [403, 429], header: "x-blocked" | { name, pattern } }`. */
export function parseBanMarkers(path: string, value: unknown): BanMarkers {
  const raw = expectObject(path, value);
  rejectUnknownKeys(path, raw, ['status', 'header']);
  const statuses = raw['status'] === undefined ? [] : (Array.isArray(raw['status']) ? raw['status'] : [raw['status']]).map((s, i) => parseInteger(`${path}.status[${i}]`, s, 200, 599));
  const markers: BanMarkers = { statuses };
  if (raw['header'] !== undefined) {
    if (typeof raw['header'] === 'string') markers.header = { name: parseString(`${path}.header`, raw['header']).toLowerCase() };
    else {
      const header = expectObject(`${path}.header`, raw['header']);
      rejectUnknownKeys(`${path}.header`, header, ['name', 'pattern']);
      markers.header = { name: parseString(`${path}.header.name`, header['name']).toLowerCase() };
      if (header['pattern'] !== undefined) {
        const source = parseString(`${path}.header.pattern`, header['pattern']);
        if (source.length > 256) throw new ConfigError(`${path}.header.pattern: expected a regular expression of at most 256 characters, got ${source.length}`);
        // RE2 (re2js), as for URL rules: the value comes from a parent or an origin, and a
        // JavaScript RegExp such as `(a+)+$` could backtrack for seconds on a hostile one.
        try {
          const re = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
          markers.header.pattern = (value) => re.test(value);
        } catch (error) {
          throw new ConfigError(`${path}.header.pattern: expected a regular expression, got ${JSON.stringify(source)} (${(error as Error).message})`);
        }
      }
    }
  }
  if (!statuses.length && !markers.header) throw new ConfigError(`${path}: expected status and/or header`);
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

// What one change event may hold, whatever the store: URLs, client ids and validators come from
// clients and origins (an 8 KB URL, a 7 KB client id), so each is cut to a fixed length before it
// is kept, and the event says so (`truncated: true`). Also the byte estimate the memory history
// is capped by (memory/change-log.ts). The cut is on characters and never splits a surrogate
// pair, so the JSON of an event stays well-formed.
import type { ChangeEvent, RepresentationId } from './types.js';

/** Longer URLs are cut (2,048: the sitemaps protocol's limit, and more than any browser keeps in history). */
export const MAX_EVENT_URL_CHARS = 2048;
/** Client ids (a Basic user name, the identity header) longer than this are cut. */
export const MAX_EVENT_CLIENT_CHARS = 256;
/** ETag, Last-Modified and digest: a SHA-256 digest is 53 characters, an HTTP date 29. */
export const MAX_EVENT_VALIDATOR_CHARS = 256;
/** The objects, numbers and fixed strings of one event, beside its variable strings (an estimate). */
const EVENT_OVERHEAD_BYTES = 400;
const ELLIPSIS = '…';

type NewEvent = Omit<ChangeEvent, 'id'>;

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate without its pair
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

function boundedSide(side: RepresentationId): RepresentationId {
  const { etag, lastModified, digest } = side;
  if ((etag?.length ?? 0) <= MAX_EVENT_VALIDATOR_CHARS && (lastModified?.length ?? 0) <= MAX_EVENT_VALIDATOR_CHARS && digest.length <= MAX_EVENT_VALIDATOR_CHARS) return side;
  return {
    etag: etag === null ? null : cut(etag, MAX_EVENT_VALIDATOR_CHARS),
    lastModified: lastModified === null ? null : cut(lastModified, MAX_EVENT_VALIDATOR_CHARS),
    digest: cut(digest, MAX_EVENT_VALIDATOR_CHARS),
  };
}

/** The event with every field within its bound; the same object when nothing needed cutting. */
export function boundedEvent<T extends NewEvent>(event: T): T {
  const old = boundedSide(event.old);
  const now = boundedSide(event.new);
  const longUrl = event.url.length > MAX_EVENT_URL_CHARS;
  const longClient = event.client !== null && event.client.length > MAX_EVENT_CLIENT_CHARS;
  if (!longUrl && !longClient && old === event.old && now === event.new) return event;
  return {
    ...event,
    url: cut(event.url, MAX_EVENT_URL_CHARS),
    client: event.client === null ? null : cut(event.client, MAX_EVENT_CLIENT_CHARS),
    old,
    new: now,
    truncated: true,
  };
}

const sideBytes = (side: RepresentationId): number => (side.etag?.length ?? 0) + (side.lastModified?.length ?? 0) + side.digest.length;

/** About what an event costs in memory (string lengths plus a fixed overhead), for the byte caps. */
export function eventBytes(event: ChangeEvent): number {
  return EVENT_OVERHEAD_BYTES + event.id.length + event.url.length + (event.client?.length ?? 0) + sideBytes(event.old) + sideBytes(event.new);
}

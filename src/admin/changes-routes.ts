// GET /changes?url=… (one URL's recent changes, its last-checked time and unchanged count), GET /changes?since=… or ?after=<id> (the
// fleet's, oldest first, at most ?limit=), and GET /changes/stream: Server-Sent Events of new
// changes, optionally for one ?host= or ?prefix=, resuming after Last-Event-ID. All read the
// backend's ChangeLog (with Redis: one stream the whole fleet appends to, so every worker's
// stream shows every worker's changes); the stream's fan-out and its bounds are change-feed.ts's.
// What counts as a change is observe/changes.ts's rule.
import { urlKey } from '../cache/keys.js';
import { purgeTarget, type PurgeTarget } from '../cache/purge-match.js';
import { ProxyError, StoreUnavailable } from '../errors.js';
import { optionalQueryUrl } from './query-url.js';
import type { Proxy } from '../index.js';
import { redactUrl } from '../observe/redact.js';
import type { ChangeLog } from '../store/types.js';
import type { AdminRequest, AdminReply, AdminRoute } from './admin-route.js';
import { changeFeedFor } from './change-feed.js';

const MAX_LIMIT = 1000;
const EVENT_ID = /^\d+-\d+$|^0$/;

function unavailable(error: unknown): never {
  if (!(error instanceof StoreUnavailable)) throw error;
  throw new ProxyError(503, 'store_unavailable', `change history unavailable (${error.message})`);
}

/** ?since= as epoch milliseconds or an ISO 8601 time. */
function sinceTime(text: string): number {
  const time = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(time)) throw new ProxyError(400, 'bad_request', `since: expected epoch milliseconds or an ISO 8601 time, got ${JSON.stringify(text)}`);
  return time;
}

function limitOf(query: URLSearchParams): number {
  const text = query.get('limit');
  if (text === null) return 100;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new ProxyError(400, 'bad_request', `limit: expected an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(text)}`);
  return limit;
}

export function createChangesRoutes(proxy: Proxy): AdminRoute[] {
  const log = (): ChangeLog => {
    const changes = proxy.ctx.backend.changes;
    if (!changes) throw new ProxyError(501, 'not_implemented', 'this store keeps no change history');
    return changes;
  };

  async function list(req: AdminRequest): Promise<AdminReply> {
    const { query } = req;
    const target = optionalQueryUrl(query);
    if (target) {
      const key = urlKey(target);
      const [changes, checks] = await Promise.all([log().history(key), log().checks(key)]).catch(unavailable);
      // lastChecked / unchanged: what revalidations found when nothing changed (no event for those).
      return { status: 200, body: { url: redactUrl(target.href), changes, ...checks } };
    }
    const since = query.get('since');
    const after = query.get('after');
    if (since === null && after === null) throw new ProxyError(400, 'bad_request', 'give ?url=<absolute URL>, ?since=<time> or ?after=<event id>');
    if (after !== null && !/^\d+-\d+$|^0$/.test(after)) throw new ProxyError(400, 'bad_request', `after: expected an event id such as 1764625203120-0, got ${JSON.stringify(after)}`);
    const cursor = after ?? (await log().cursorAt(sinceTime(since!)));
    const changes = await log().after(cursor, limitOf(query)).catch(unavailable);
    // Where to go on from: the last id answered, or the cursor asked with when there was nothing new.
    return { status: 200, body: { changes, last: changes.at(-1)?.id ?? cursor } };
  }

  async function stream(req: AdminRequest): Promise<AdminReply> {
    const changes = log();
    const feed = changeFeedFor(changes, { maxSubscribers: proxy.ctx.config.maxChangeSubscribers, logger: proxy.ctx.logger });
    feed.admit(); // before any store call
    const filter: PurgeTarget | undefined = purgeTarget(req.query);
    // The EventSource spec's resume header; ?lastEventId= for clients that cannot set headers.
    const resume = req.headers['last-event-id'] ?? req.query.get('lastEventId') ?? undefined;
    if (resume !== undefined && !EVENT_ID.test(String(resume))) {
      throw new ProxyError(400, 'bad_request', `Last-Event-ID: expected an event id such as 1764625203120-0, got ${JSON.stringify(resume)}`);
    }
    // Without an id: changes from now on. With one: everything after it still in the history.
    const start = resume === undefined ? await changes.latest().catch(unavailable) : String(resume);
    return { status: 200, body: null, stream: feed.reserve(start, filter) };
  }

  return [
    { pattern: /^\/changes$/, methods: { GET: list } },
    { pattern: /^\/changes\/stream$/, methods: { GET: stream } },
  ];
}

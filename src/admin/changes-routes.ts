// GET /changes?url=… (one URL's recent changes) and GET /changes?since=… or ?after=<id> (the
// fleet's, oldest first, at most ?limit=), read from the backend's ChangeLog. What counts as a
// change is observe/changes.ts's rule.
import { urlKey } from '../cache/keys.js';
import { ProxyError, StoreUnavailable } from '../errors.js';
import { parseRequestTarget } from '../http/request-target.js';
import type { Proxy } from '../index.js';
import { redactUrl } from '../observe/redact.js';
import type { ChangeLog } from '../store/types.js';
import type { AdminRequest, AdminReply, AdminRoute } from './admin-server.js';

const MAX_LIMIT = 1000;

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
    const url = query.get('url');
    if (url !== null) {
      let target: URL | undefined;
      try {
        const parsed = parseRequestTarget('GET', url);
        if (parsed.form === 'absolute') target = parsed.url;
      } catch {
        // answered below
      }
      if (!target) throw new ProxyError(400, 'bad_request', `url: expected an absolute http:// or https:// URL, got ${JSON.stringify(url)}`);
      const changes = await log().history(urlKey(target)).catch(unavailable);
      return { status: 200, body: { url: redactUrl(target.href), changes } };
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

  return [{ pattern: /^\/changes$/, methods: { GET: list } }];
}

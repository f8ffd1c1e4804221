// The admin API's `?url=`: an absolute http:// or https:// URL, parsed as the proxy parses a
// request target (so it names what the proxy would have keyed), or a 400 naming the parameter.
import { ProxyError } from '../errors.js';
import { parseRequestTarget } from '../http/request-target.js';

/** `?url=` as a URL, or undefined when the query has none. */
export function optionalQueryUrl(query: URLSearchParams): URL | undefined {
  const url = query.get('url');
  return url === null ? undefined : parseUrl(url);
}

/** `?url=` as a URL; missing is an error too. */
export function queryUrl(query: URLSearchParams): URL {
  return parseUrl(query.get('url') ?? '');
}

function parseUrl(url: string): URL {
  try {
    const target = parseRequestTarget('GET', url);
    if (target.form === 'absolute') return target.url;
  } catch {
    // answered below
  }
  throw new ProxyError(400, 'bad_request', `query.url: expected an absolute http:// or https:// URL, got ${JSON.stringify(url)}`);
}

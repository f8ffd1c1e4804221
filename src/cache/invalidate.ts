// RFC 9111 §4.4: after a non-error response to an unsafe method, a cache invalidates the
// target URI and the URIs in Location and Content-Location when they share its origin.
import type { IncomingHttpHeaders } from 'node:http';
import { urlKey } from './keys.js';

export function shouldInvalidate(method: string, status: number): boolean {
  return !SAFE_METHODS.has(method) && status >= 200 && status < 400;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** URL keys to invalidate: the target, plus same-origin Location / Content-Location. */
/** `keyOf`: the key a URL is stored under (a crawl rule may normalise its query). */
export function invalidationKeys(target: URL, responseHeaders: IncomingHttpHeaders, keyOf: (url: URL) => string = (url) => urlKey(url)): string[] {
  const keys = [keyOf(target)];
  for (const name of ['location', 'content-location'] as const) {
    const value = responseHeaders[name];
    if (typeof value !== 'string') continue;
    let url: URL;
    try {
      url = new URL(value, target);
    } catch {
      continue;
    }
    if (url.origin === target.origin) keys.push(keyOf(url));
  }
  return [...new Set(keys)];
}

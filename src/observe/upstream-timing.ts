// How long each origin response took to arrive (request sent → response head), remembered on
// the response itself so the access log can print it for the request it answered. Written by
// metered-upstream.ts, read by access-log.ts; a WeakMap, so nothing outlives the response.
import type { IncomingMessage } from 'node:http';

const headMs = new WeakMap<IncomingMessage, number>();

export function noteUpstreamTime(originRes: IncomingMessage, ms: number): void {
  headMs.set(originRes, ms);
}

export function upstreamTimeOf(originRes: IncomingMessage | undefined): number | undefined {
  return originRes === undefined ? undefined : headMs.get(originRes);
}

// How long each origin response took to arrive (request sent → response head), remembered on
// the response itself so the access log can print it for the request it answered. Written by
// metered-upstream.ts, read by access-log.ts; a WeakMap, so nothing outlives the response.
import type { OriginResponse } from '../http/origin-response.js';

const headMs = new WeakMap<OriginResponse, number>();

export function noteUpstreamTime(originRes: OriginResponse, ms: number): void {
  headMs.set(originRes, ms);
}

export function upstreamTimeOf(originRes: OriginResponse | undefined): number | undefined {
  return originRes === undefined ? undefined : headMs.get(originRes);
}

// Ids that no other process sharing the directory makes (body ids, fill-lock tokens): a random
// prefix drawn once per process, then a counter. `randomBytes` per id cost about 15 µs of CPU each
// (two per stored miss) in a crawl's CPU profile; uniqueness is all these ids need.
import { randomBytes } from 'node:crypto';

const PROCESS_PREFIX = randomBytes(9).toString('base64url');
let next = 0;

export function uniqueId(): string {
  return `${PROCESS_PREFIX}.${(next++).toString(36)}`;
}

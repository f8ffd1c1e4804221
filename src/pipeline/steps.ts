// THE TABLE: every step of a request, in one screen. Each step is `async (tx) => next step`.
//
//  CONNECT ─────────────────────────────────────────────► pipe (server/proxy-server.ts)
//  recv ─ bad target / 407 / own port ─────────────────► synth
//       ─ PURGE (--purge) ─────────────────────────────► purge
//       ─ unsafe method, Authorization, Range, no-store ► pass ─► relay
//       ─ GET / HEAD ─► lookup ─ fresh / max-stale ─────► deliver
//                              ─ stale-while-revalidate ► deliver ─► (background) revalidate ─► …
//                              ─ stale / no-cache ─────► revalidate ─ 304 ─► refresh ─► deliver
//                              │                          ├ 200 ─► store | relay
//                              │                          └ error / 5xx ─► backendError ─► deliver | relay | synth
//                              └ none ─► miss ─ leader ─► fetch ─► store | relay
//                                             └ follower: wait ─► lookup
//  every path ends in finish (pipeline/run.ts), exactly once.
//  (background): a transaction with no client, from revalidate on; deliver answers nobody.
import { backendError } from './backend-error.js';
import { deliver } from './deliver.js';
import { fetch } from './fetch.js';
import { lookup } from './lookup.js';
import { miss } from './miss.js';
import { pass } from './pass.js';
import { purge } from './purge.js';
import { recv } from './recv.js';
import { refresh } from './refresh.js';
import { relay } from './relay.js';
import { revalidate } from './revalidate.js';
import { store } from './store.js';
import { synth } from './synth.js';
import type { Step, StepFn } from './step.js';

export const STEPS = {
  recv,
  lookup,
  miss,
  fetch,
  revalidate,
  refresh,
  store,
  relay,
  deliver,
  pass,
  purge,
  synth,
  backendError,
} satisfies Record<Exclude<Step, 'done'>, StepFn>;

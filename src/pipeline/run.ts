// The driver loop (Varnish CNT_Request): run steps until 'done'. The only try/catch for a
// request: a ProxyError is answered by synth, an AbortTransfer cuts the client's connection,
// and finish runs exactly once whatever happened. A client's request that lookup served stale
// within stale-while-revalidate ends by starting a background transaction: the same steps from
// revalidate on, driven by this same loop, answering into a null client (transaction.ts).
import type { IncomingMessage } from 'node:http';
import { AbortTransfer, ProxyError } from '../errors.js';
import type { ClientResponse } from '../http/client-response.js';
import { redactUrl } from '../observe/redact.js';
import type { ProxyContext } from './context.js';
import { finish } from './finish.js';
import type { Step, StepFn } from './step.js';
import { STEPS } from './steps.js';
import { createBackgroundTx, createTx, type Tx } from './transaction.js';

const MAX_STEPS = 32;
// A Map: the step name varies on every turn, which makes property lookups on STEPS megamorphic.
const STEP_TABLE = new Map<Step, StepFn>(Object.entries(STEPS) as Array<[Step, StepFn]>); // a loop between steps is a bug; fail the request rather than spin

export function runRequest(ctx: ProxyContext, clientReq: IncomingMessage, clientRes: ClientResponse): void | Promise<void> {
  return drive(createTx(ctx, clientReq, clientRes), 'recv');
}

/** stale-while-revalidate (RFC 5861 §3): revalidate what `clientTx` was served, as work close() waits for. */
function revalidateInBackground(clientTx: Tx): void {
  const { background, logger } = clientTx.ctx;
  const tx = createBackgroundTx(clientTx);
  // finish settles its own failures; this catch keeps a bug there from being an unhandled rejection.
  const job = Promise.resolve(drive(tx, 'revalidate')).catch((error: unknown) => logger.warn('background revalidation failed', { url: redactUrl(tx.target!.href), error: (error as Error).message }));
  background.add(job);
  void job.finally(() => background.delete(job));
}

/** The end of every transaction: finish, after starting the background one lookup asked for. */
function end(tx: Tx): void | Promise<void> {
  if (tx.refreshInBackground) revalidateInBackground(tx);
  return finish(tx);
}

// Steps that answer synchronously run in this loop (a memory-store hit never leaves it, so it
// pays for no promise or microtask); the first step that returns a promise hands over to
// driveAsync, which carries on from there.
function drive(tx: Tx, first: Step): void | Promise<void> {
  let step: Step = first;
  let count = 0;
  try {
    while (step !== 'done') {
      if (++count > MAX_STEPS) throw new Error(`pipeline did not finish after ${MAX_STEPS} steps (last: ${step})`);
      const next = STEP_TABLE.get(step)!(tx);
      if (typeof next !== 'string') return driveAsync(tx, step, count, next);
      step = next;
    }
  } catch (error) {
    return failThenFinish(tx, step, error);
  }
  return end(tx);
}

async function driveAsync(tx: Tx, step: Step, count: number, pending: Promise<Step>): Promise<void> {
  try {
    step = await pending;
    while (step !== 'done') {
      if (++count > MAX_STEPS) throw new Error(`pipeline did not finish after ${MAX_STEPS} steps (last: ${step})`);
      const next = STEP_TABLE.get(step)!(tx);
      step = typeof next === 'string' ? next : await next;
    }
  } catch (error) {
    tx.log.step = step;
    await handleFailure(tx, error);
  } finally {
    const finishing = end(tx);
    if (finishing) await finishing;
  }
}

async function failThenFinish(tx: Tx, step: Step, error: unknown): Promise<void> {
  tx.log.step = step;
  try {
    await handleFailure(tx, error);
  } finally {
    const finishing = end(tx);
    if (finishing) await finishing;
  }
}

async function handleFailure(tx: Tx, error: unknown): Promise<void> {
  if (error instanceof AbortTransfer) {
    tx.log.error = error.code;
    tx.log.detail = error.message;
    tx.clientRes.destroy();
    return;
  }
  tx.error =
    error instanceof ProxyError ? error : new ProxyError(500, 'internal_error', `internal error: ${(error as Error)?.message ?? String(error)}`);
  if (!(error instanceof ProxyError)) tx.log.stack = (error as Error)?.stack?.split('\n').slice(0, 4).join(' | ');
  try {
    await STEPS.synth(tx);
  } catch {
    tx.clientRes.destroy();
  }
}

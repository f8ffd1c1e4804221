// The driver loop (Varnish CNT_Request): run steps until 'done'. The only try/catch for a
// request: a ProxyError is answered by synth, an AbortTransfer cuts the client's connection,
// and finish runs exactly once whatever happened.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbortTransfer, ProxyError } from '../errors.js';
import type { ProxyContext } from './context.js';
import { finish } from './finish.js';
import type { Step, StepFn } from './step.js';
import { STEPS } from './steps.js';
import { createTx, type Tx } from './transaction.js';

const MAX_STEPS = 32;
// A Map: the step name varies on every turn, which makes property lookups on STEPS megamorphic.
const STEP_TABLE = new Map<Step, StepFn>(Object.entries(STEPS) as Array<[Step, StepFn]>); // a loop between steps is a bug; fail the request rather than spin

export function runRequest(ctx: ProxyContext, clientReq: IncomingMessage, clientRes: ServerResponse): void | Promise<void> {
  return drive(createTx(ctx, clientReq, clientRes));
}

// Steps that answer synchronously run in this loop (a memory-store hit never leaves it, so it
// pays for no promise or microtask); the first step that returns a promise hands over to
// driveAsync, which carries on from there.
function drive(tx: Tx): void | Promise<void> {
  let step: Step = 'recv';
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
  return finish(tx);
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
    const finishing = finish(tx);
    if (finishing) await finishing;
  }
}

async function failThenFinish(tx: Tx, step: Step, error: unknown): Promise<void> {
  tx.log.step = step;
  try {
    await handleFailure(tx, error);
  } finally {
    const finishing = finish(tx);
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

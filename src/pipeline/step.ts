// The names of the steps and the shape of a step function, apart from the table (steps.ts) so
// that each step can name its successors without importing the table that imports it.
import type { Tx } from './transaction.js';

export type Step =
  | 'recv'
  | 'lookup'
  | 'miss'
  | 'fetch'
  | 'revalidate'
  | 'refresh'
  | 'store'
  | 'relay'
  | 'deliver'
  | 'pass'
  | 'purge'
  | 'synth'
  | 'backendError'
  | 'done';

// A step may answer synchronously (a hit needs no I/O of its own); the driver awaits only promises.
export type StepFn = (tx: Tx) => Step | Promise<Step>;

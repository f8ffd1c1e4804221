// The access log's line for a request the pipeline answered: who asked (client id), what
// (method, URL with secrets redacted), the answer (status, bytes), how the cache answered
// (outcome as the metrics count it, Cache-Status), the policy applied and the validators it
// dropped, the origin's time to the response head, and the steps' own notes (tx.log).
// Written once per request from pipeline/finish.ts; CONNECT tunnels and refused connections
// write their own `request` lines (pipeline/pipe.ts, server/). Whether and where lines are
// written is the logger's (log.ts, log-destination.ts).
import type { Socket } from 'node:net';
import type { Tx } from '../pipeline/transaction.js';
import { ACCESS_MSG, type LogFields } from './log.js';
import { outcomeOf } from './outcome.js';
import { redactUrl } from './redact.js';

// A keep-alive connection carries one answer after another (HTTP/1.1, no pipelining): each
// request is charged the bytes written since the one before it finished.
const writtenUpTo = new WeakMap<Socket, number>();

function bytesSent(socket: Socket | null | undefined): number | undefined {
  if (!socket) return undefined;
  const written = socket.bytesWritten;
  const sent = written - (writtenUpTo.get(socket) ?? 0);
  writtenUpTo.set(socket, written);
  return sent;
}

/** The access-log fields of a finished request (field names are docs/reference/log-fields.md's table). */
export function accessRecord(tx: Tx): LogFields {
  const { ctx, clientRes } = tx;
  const upstreamMs = tx.originRes?.headMs;
  return {
    client: tx.client?.id,
    method: tx.method,
    url: redactUrl(tx.target?.href ?? tx.clientReq.url ?? ''),
    status: clientRes.headersSent ? clientRes.statusCode : null,
    outcome: outcomeOf({ status: tx.status, failed: tx.error !== undefined || tx.log.error !== undefined, method: tx.method, answered: tx.clientRes.headersSent ? tx.clientRes.statusCode : undefined }),
    cache: tx.status.toString(),
    policy: tx.policy?.validators,
    upstreamMs: upstreamMs === undefined ? undefined : Math.round(upstreamMs * 10) / 10,
    // The parent proxy that carried the request (its label never holds credentials).
    pool: tx.originRes?.parent?.pool,
    parent: tx.originRes?.parent?.label,
    bytes: bytesSent(tx.clientReq.socket),
    ms: ctx.now() - tx.startedAt,
    // The steps' notes: dropped (the validators the policy removed), stored, delivered, error, …
    ...tx.log,
  };
}

/** One line per request: warn when it ended in an error, else info (off without --access-log). */
export function writeAccessLog(tx: Tx): void {
  const level = tx.log.error ? 'warn' : 'info';
  const { logger } = tx.ctx;
  if (!logger.enabled(level, ACCESS_MSG)) return;
  logger[level](ACCESS_MSG, accessRecord(tx));
}

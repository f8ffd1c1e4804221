// One JSON line per event: one per request (the access log: pipeline/finish.ts via
// access-log.ts, CONNECT tunnels, refusals) and one per change of state (store down / up,
// listening). Levels filter; the access log's info lines can be switched off on their own
// (--access-log); nothing here throws. Where lines go (stdout, --log-file) is log-destination.ts's.
import cluster from 'node:cluster';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

/** The message of access-log lines: one per request, CONNECT tunnel or refused connection. */
export const ACCESS_MSG = 'request';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  /** False when lines at `level` (with this `msg`) are dropped, so callers can skip building them. */
  enabled(level: LogLevel, msg?: string): boolean;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /**
   * Write the access log's info lines (requests that succeeded). Off, requests that end in an
   * error still get their warn line. Default true (tests and embeddings see every line).
   */
  accessLog?: boolean;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
  options: LoggerOptions = {},
): Logger {
  const min = RANK[level];
  const accessLog = options.accessLog ?? true;
  // With --workers every line says which worker wrote it.
  const worker = cluster.isWorker ? cluster.worker?.id : undefined;
  const enabled = (lvl: LogLevel, msg?: string): boolean => RANK[lvl] >= min && (accessLog || lvl !== 'info' || msg !== ACCESS_MSG);
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (!enabled(lvl, msg)) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...(worker !== undefined && { worker }), ...fields })}\n`);
  };
  return {
    enabled,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLogger: Logger = createLogger('silent');

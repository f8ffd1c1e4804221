// Where the CLI's log lines go: stdout, or --log-file (appended, created with its directory).
// Built on pino's destination (sonic-boom): writes are asynchronous and batched, so a slow disk
// or log collector does not stall the event loop, what is still buffered is written
// synchronously when the process exits, and reopen() lets logrotate move the file away and
// send SIGHUP without losing or splitting lines.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import { ConfigError } from '../errors.js';

export interface LogDestination {
  write(line: string): void;
  /** --log-file: close and open the path again (after logrotate renamed it). No-op on stdout. */
  reopen(): void;
  /** The file written to, or undefined for stdout. */
  readonly file: string | undefined;
}

/**
 * A new log file (and a directory made for it) is its owner's alone: request lines name every
 * client and URL. An existing file keeps its mode (logrotate's `create` sets the next one's).
 */
const LOG_FILE_MODE = 0o600;

/** Throws ConfigError when --log-file cannot be opened for appending. */
export function openLogDestination(file: string | undefined): LogDestination {
  // sonic-boom opens asynchronously and reports failure as an event: try it here first, so a
  // bad path stops the start with its reason instead of losing every line.
  if (file !== undefined) {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      closeSync(openSync(file, 'a', LOG_FILE_MODE));
    } catch (error) {
      throw new ConfigError(`--log-file: cannot open ${file} for appending: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const stream = pino.destination({ dest: file ?? 1, sync: false, append: true, mode: LOG_FILE_MODE });
  let failed = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true; // once: the log itself is what failed
    process.stderr.write(`etag-proxy: cannot write the log${file === undefined ? '' : ` to ${file}`}: ${error.code ?? error.message}\n`);
  });
  process.once('exit', () => {
    try {
      stream.flushSync();
    } catch {
      // Not open yet, or closed: nothing buffered that could still be written.
    }
  });
  return {
    file,
    write: (line) => void stream.write(line),
    reopen: () => {
      if (file !== undefined) stream.reopen();
    },
  };
}

// Where the CLI's log lines go: stdout, or --log-file (appended, created with its directory).
// Built on pino's destination (sonic-boom): writes are asynchronous and batched, so a slow disk
// or log collector does not stall the event loop; a clean exit waits for them (drained()), and
// what an abrupt one leaves buffered is written synchronously as the process exits; reopen()
// lets logrotate move the file away and send SIGHUP without losing or splitting lines.
import { closeSync, mkdirSync, openSync, statfsSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import { ConfigError } from '../errors.js';

export interface LogDestination {
  write(line: string): void;
  /** --log-file: close and open the path again (after logrotate renamed it). No-op on stdout. */
  reopen(): void;
  /** The file written to, or undefined for stdout. */
  readonly file: string | undefined;
  /**
   * Resolves once every line given so far is written (or writing failed), or after `timeoutMs`:
   * awaited before a clean exit, so the last lines leave in order and the exit does no I/O.
   */
  drained(timeoutMs: number): Promise<void>;
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
      refuseKernelFiles(file);
      makeDirectories(dirname(file));
      const fd = openSync(file, 'a', LOG_FILE_MODE);
      try {
        // A file that opens but takes no writes (/proc/self/status: EINVAL) fails here, not later.
        writeSync(fd, '');
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      throw new ConfigError(`--log-file: cannot open ${file} for appending: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const stream = pino.destination({ dest: file ?? 1, sync: false, append: true, mode: LOG_FILE_MODE });
  let failed = false;
  // Bytes handed to the stream and bytes it reported written: equal when nothing is pending.
  let given = 0;
  let written = 0;
  let whenDrained: Array<() => void> = [];
  const settle = () => {
    const waiting = whenDrained;
    whenDrained = [];
    for (const resolve of waiting) resolve();
  };
  stream.on('write', (n: number) => {
    written += n;
    if (written >= given) settle();
  });
  stream.on('error', (error: NodeJS.ErrnoException) => {
    settle();
    if (failed) return;
    failed = true; // once: the log itself is what failed
    process.stderr.write(`etag-proxy: cannot write the log${file === undefined ? '' : ` to ${file}`}: ${error.code ?? error.message}\n`);
  });
  process.once('exit', () => {
    // Only what is still pending (an exit that did not wait for drained()): sonic-boom's
    // flushSync also fsyncs, which on a busy disk can hold the exit for seconds.
    if (written >= given || failed) return;
    try {
      stream.flushSync();
    } catch {
      // Not open yet, or closed: nothing buffered that could still be written.
    }
  });
  return {
    file,
    write: (line) => {
      given += Buffer.byteLength(line);
      stream.write(line);
    },
    reopen: () => {
      if (file !== undefined) stream.reopen();
    },
    drained: (timeoutMs) => {
      if (written >= given || failed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        whenDrained.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** statfs f_type of the kernel's pseudo-filesystems: their files are interfaces, never logs. */
const KERNEL_FILESYSTEMS = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x27e0eb, 'cgroupfs'],
  [0x63677270, 'cgroup2fs'],
]);

/** Refuse a path on /proc, /sys and the like: writing there changes the kernel, not a log. */
function refuseKernelFiles(file: string): void {
  let dir = dirname(file);
  // The nearest directory that exists says which filesystem the file would be on.
  for (;;) {
    try {
      statSync(dir);
      break;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) return;
      dir = parent;
    }
  }
  const kind = KERNEL_FILESYSTEMS.get(statfsSync(dir).type);
  if (kind) throw new Error(`${dir} is on ${kind}, not a filesystem for logs`);
}

/**
 * mkdir -p, one level at a time from the nearest existing directory: Node's recursive mkdirSync
 * loops for ever where mkdir answers ENOENT under an existing directory (/proc/foo/bar).
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    try {
      statSync(at);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw error;
      missing.unshift(at);
    }
  }
  for (const at of missing) mkdirSync(at, { mode: 0o700 });
}

// Run the built CLI (dist/, built once by test/global-setup.ts) as a child process, the way
// users start it, and wait for its "listening" log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { freePort } from './ports.js';

export const CLI = 'dist/src/cli/main.js';

export interface RunningCli {
  child: ChildProcess;
  output: () => string;
  /** Resolve once `count` lines containing `text` were printed (rejects after `ms`, 20 s by default). */
  waitFor(text: string, count?: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The environment for a CLI run: a proxy started without --store keeps its cache in the user's
 * cache directory, so unless the test names one (XDG_CACHE_HOME in `env`, to restart on the same
 * cache), each run gets a fresh one, removed once the process exits: runs never share entries, as
 * with the memory store they once had. The real ~/.cache is never touched (test/global-setup.ts).
 */
export function cliEnv(args: string[], env: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv; cleanup: () => void } {
  if (args.some((arg) => arg === '--store' || arg.startsWith('--store=')) || env['XDG_CACHE_HOME'] !== undefined) return { env: { ...process.env, ...env }, cleanup: () => undefined };
  const cacheHome = mkdtempSync(join(tmpdir(), 'etag-proxy-cli-cache-'));
  return { env: { ...process.env, ...env, XDG_CACHE_HOME: cacheHome }, cleanup: () => rmSync(cacheHome, { recursive: true, force: true }) };
}

/** `wrapper`: a command the CLI runs under, e.g. `['prlimit', '--fsize=6000000']`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, wrapper: string[] = []): RunningCli {
  const run = cliEnv(args, env);
  const [command, ...rest] = [...wrapper, process.execPath, CLI, ...args];
  const child = spawn(command!, rest, { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('exit', run.cleanup);
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    // 20 s: a CLI start costs most of a second of CPU, and a loaded 2-core machine stretches that.
    async waitFor(needle, count = 1, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (text.split(needle).length - 1 < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(needle)} x${count}; output:\n${text}`);
        if (child.exitCode !== null) throw new Error(`CLI exited with ${child.exitCode} before ${JSON.stringify(needle)}; output:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Run the CLI to completion: exit code and everything it printed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const run = cliEnv(args, env);
    const child = spawn(process.execPath, [CLI, ...args], { env: run.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      run.cleanup();
      resolve({ code, stdout, stderr });
    });
  });
}

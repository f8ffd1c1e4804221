// Build dist/ once before any test file runs: the CLI and child-process tests run the built
// proxy exactly as users do (`node dist/src/cli/main.js`), and parallel files must not race tsc.
// Skipped when dist/ is newer than every source it is built from: even an incremental tsc spends
// seconds of CPU creating its program, on every `npx vitest run one.test.ts`.
// Also: every process the tests start sees XDG_CACHE_HOME in a temporary directory, removed at the
// end, so a CLI started without --store (whose default is the disk store in the user's cache
// directory) never writes into the real ~/.cache.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BUILD_INFO = 'dist/.tsbuildinfo';
const SOURCES = ['src', 'bench'];
const CONFIG_FILES = ['tsconfig.json', 'package-lock.json'];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a file deleted or renamed in it
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function distIsCurrent(): boolean {
  if (!existsSync(BUILD_INFO) || !existsSync('dist/src/cli/main.js')) return false;
  const built = statSync(BUILD_INFO).mtimeMs;
  return [...SOURCES, ...CONFIG_FILES].filter((path) => existsSync(path)).every((path) => newestMtime(path) < built);
}

export default function setup(): () => void {
  // Set before the test workers are forked: they, and everything they spawn, inherit it.
  const cacheHome = mkdtempSync(join(tmpdir(), 'etag-proxy-test-cache-home-'));
  process.env['XDG_CACHE_HOME'] = cacheHome;
  const teardown = () => rmSync(cacheHome, { recursive: true, force: true });
  if (distIsCurrent()) return teardown;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  // tsc leaves its build info alone when no output changed (a source touched, not edited).
  const now = new Date();
  utimesSync(BUILD_INFO, now, now);
  return teardown;
}

// Where the CLI keeps its cache when no --store is given: the platform's per-user cache
// directory, as other tools put theirs (the XDG Base Directory spec on Linux and the BSDs,
// ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows; the env-paths package's choices).
// A pure function of the environment, so tests can aim it at a temporary directory.
import { homedir } from 'node:os';
import { isAbsolute, join, win32 } from 'node:path';

const NAME = 'etag-proxy';

export function userCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  if (platform === 'darwin') return join(home, 'Library', 'Caches', NAME);
  if (platform === 'win32') return win32.join(env['LOCALAPPDATA'] || win32.join(home, 'AppData', 'Local'), NAME, 'Cache');
  // XDG Base Directory spec: a relative $XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.cache'), NAME);
}

/** The CLI's store when neither --store nor the config file's `store` names one. */
export function defaultCliStore(env: NodeJS.ProcessEnv = process.env): string {
  return `disk:${userCacheDir(env)}`;
}

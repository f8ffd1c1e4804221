// Where the browser tests find Chromium: Debian's `chromium` package (driven by playwright-core,
// no browser download), or CHROMIUM_PATH. A missing browser is a failure that names the install
// command, never a skip.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const INSTALL = 'apt-get update && apt-get install -y chromium libnss3-tools';

export function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The real binary beside Debian's wrapper script, else whatever `chromium` is on the PATH. */
export function chromiumPath(): string {
  const found = process.env['CHROMIUM_PATH'] ?? (existsSync('/usr/lib/chromium/chromium') ? '/usr/lib/chromium/chromium' : (which('chromium') ?? which('chromium-browser')));
  if (!found) throw new Error(`Chromium was not found (set CHROMIUM_PATH, or install it: ${INSTALL})`);
  return found;
}

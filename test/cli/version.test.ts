// `etag-proxy --version` prints this package's version wherever it runs from (a package.json in
// the working directory is someone else's), and arguments after `--` are a usage error rather than
// a proxy started with them ignored (`--` was also cut to a string, which crashed yargs).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

function run(args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [resolve(CLI), ...args], { timeout: 10_000, cwd }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('etag-proxy --version', () => {
  it("prints the package's own version, also from a directory with another package.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-version-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'someone-else', version: '9.9.9' }));
      for (const cwd of [undefined, dir]) {
        const res = await run(['--version'], cwd);
        expect(res).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('arguments after -- are one usage line and exit 2, not a proxy started without them', async () => {
    const res = await run(['--', '--version']);
    expect(res).toEqual({ code: 2, stdout: '', stderr: 'etag-proxy: "--version": unexpected after --; see etag-proxy --help\n' });
  });
});

// `etag-proxy rules list|set|delete|explain` as users run it (node dist/src/cli/main.js) against
// a proxy started from a config file with `rules:`; and a bad `rules:` key in the config file
// is one line naming the key, exit 2.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const mainJs = join(root, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'rules-cli-'));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, ...args], { cwd: root, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('rules: in the config file', () => {
  it('a bad key is one line naming it, exit 2', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'rules:\n  - match: { host: "*" }\n    override: [nostore]\n');
    const res = await cli(['--config', file, '--port', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('etag-proxy: rules[0].override[0]: expected no-store | no-cache | private | must-revalidate | expires, got "nostore"');
  });
});

describe('etag-proxy rules against a running proxy', () => {
  let child: ChildProcess;
  let origin: Origin;
  let proxyUrl: string;
  let adminUrl: string;
  const token = 'rules-cli-token';

  beforeAll(async () => {
    origin = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'no-cache', 'content-length': 3 }).end('abc') });
    const config = join(tmp, 'good.yaml');
    writeFileSync(config, 'rules:\n  - match: { host: "*" }\n    ignoreQuery: ["utm_*"]\n    sortQuery: true\n');
    const args = ['--config', config, '--port', '0', '--admin-port', String(await freePort()), '--admin-token', token];
    const run = cliEnv(args);
    child = spawn(process.execPath, [mainJs, ...args], { cwd: root, env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('exit', run.cleanup);
    const lines = createInterface({ input: child.stdout! });
    const listening = await new Promise<{ msg: string; admin: string; urlRules?: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "listening" line within 10 s')), 10_000);
      child.once('exit', (code) => reject(new Error(`proxy exited early (${code})`)));
      lines.on('line', (line) => {
        const record = JSON.parse(line) as { msg: string; admin: string; urlRules?: number };
        if (!record.msg.startsWith('etag-proxy listening on ')) return;
        clearTimeout(timer);
        resolve(record);
      });
    });
    expect(listening).toMatchObject({ urlRules: 1 });
    proxyUrl = listening.msg.slice('etag-proxy listening on '.length);
    adminUrl = listening.admin;
  }, 20_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await origin?.close();
  });

  const rules = (...args: string[]) => cli(['rules', ...args, '--admin-url', adminUrl, '--admin-token', token]);

  it('list, set, explain and delete change what the proxy does', async () => {
    const listed = await rules('list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('0  host *');
    expect(listed.stdout).toContain('ignoreQuery=utm_* sortQuery=true');

    const set = await rules('set', '--at', '0', '{ match: { host: "127.0.0.1" }, override: [no-cache], defaultTtl: 10m }');
    expect(set.stderr).toBe('');
    expect(set.stdout.trim()).toBe('rule 0: host 127.0.0.1 defaultTtl=600000 override=no-cache');
    const appended = await rules('set', '{ "match": { "host": "*" }, "sortQuery": true }');
    expect(appended.stdout.trim()).toBe('rule 1: host * sortQuery=true');
    await viaProxy(proxyUrl, `${origin.url}/cli-a`);
    const hit = await viaProxy(proxyUrl, `${origin.url}/cli-a`);
    expect(hit.headers['cache-status']).toMatch(/hit.*rule-override/);

    const explained = await rules('explain', `http://127.0.0.1:${origin.port}/x?b=1&a=2`, '--client', 'me');
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain('matched   rules[0]: host 127.0.0.1; rules[1]: host *');
    expect(explained.stdout).toContain('defaultTtl = 600000  (from rules[0])');
    expect(explained.stdout).toContain('key query ?a=2&b=1');
    expect(explained.stdout).toContain('policy    validators=pass');

    const deleted = await rules('delete', '0');
    expect(deleted.stdout.trim()).toBe('rule 0: deleted (host 127.0.0.1)');
    expect((await rules('list')).stdout).not.toContain('127.0.0.1');

    const bad = await rules('set', '{ match: { host: "*" }, defaultTtl: soon }');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('etag-proxy rules: PUT /rules/1: 400 body.defaultTtl: expected a duration such as 30s, 250ms or 7d, got "soon"');
    const missing = await rules('delete', '9');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404 no rule 9');
  });
});

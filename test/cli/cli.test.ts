// The `etag-proxy` command as users run it (node dist/src/cli/main.js, built first when dist is
// missing or older than src): config errors that name the key and exit non-zero, --help listing
// every option, and `policy list|set|delete` against a running proxy's admin API.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/config/options.js';
import { cliEnv } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const mainJs = join(root, 'dist/src/cli/main.js');
let tmp: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Some src/*.ts newer than its dist/*.js, or a dist file missing: the build is stale. */
function distIsStale(): boolean {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  return walk(join(root, 'src')).some((file) => {
    const built = join(root, 'dist', relative(root, file)).replace(/\.ts$/, '.js');
    return !existsSync(built) || statSync(built).mtimeMs < statSync(file).mtimeMs;
  });
}

function writeConfig(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'etag-proxy-cli-'));
  if (!existsSync(mainJs) || distIsStale()) {
    // Type errors elsewhere still emit JavaScript; only a missing entry point stops the tests.
    await new Promise<void>((resolve) => execFile('npm', ['run', 'build'], { cwd: root }, () => resolve()));
    expect(existsSync(mainJs), `npm run build did not produce ${mainJs}`).toBe(true);
  }
}, 120_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('configuration errors exit non-zero and name the key', () => {
  it('a rules file with `validators: stirp` under policies.clients[0]', async () => {
    const file = writeConfig('bad-rules.yaml', 'policies:\n  clients:\n    - match: scraper-7\n      validators: stirp\n');
    const res = await cli(['--config', file, '--port', '0']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('policies.clients[0].validators: expected pass | strip | isolate, got "stirp"');
  });

  it('unknown keys, in a rule and at the top level; a bad identity value; a JSON file', async () => {
    const cases: Array<[string, string, string]> = [
      ['unknown-rule-key.yaml', 'policies:\n  clients:\n    - match: a\n      validator: strip\n', 'policies.clients[0].validator: unknown key'],
      ['unknown-top.yaml', 'upstreamTimout: 5s\n', 'upstreamTimout: unknown key'],
      ['bad-identity.yaml', 'identity:\n  requireAuth: maybe\n', 'identity.requireAuth: expected true or false, got "maybe"'],
      ['bad-host-rule.json', '{ "policies": { "hosts": [{ "match": "*.example.com", "requestCacheControl": "never" }] } }', 'policies.hosts[0].requestCacheControl: expected honor | ignore, got "never"'],
    ];
    for (const [name, text, message] of cases) {
      const res = await cli(['--config', writeConfig(name, text), '--port', '0']);
      expect(res.code, name).not.toBe(0);
      expect(res.stderr, name).toContain(message);
    }
  });

  it('a bad --validators value is refused', async () => {
    const res = await cli(['--validators', 'stirp', '--port', '0']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/validators/);
    expect(res.stderr).toContain('stirp');
  });
});

describe('help', () => {
  it('--help lists every option and the policy command', async () => {
    const res = await cli(['--help']);
    expect(res.code).toBe(0);
    for (const name of [...Object.keys(OPTIONS), 'config']) expect(res.stdout, name).toContain(`--${name}`);
    expect(res.stdout).toContain('etag-proxy policy');
    // --workers runs with the memory store too (docs/guide/shared-cache.md: Workers with the memory store).
    const workers = res.stdout.slice(res.stdout.indexOf('--workers'), res.stdout.indexOf('--max-connections')).replace(/\s+/g, ' ');
    expect(workers).toContain('with the memory store each keeps its own cache');
    expect(workers).not.toMatch(/needs a Redis/);
  });

  it('policy --help lists list, set and delete; policy set --help the admin options', async () => {
    const res = await cli(['policy', '--help']);
    expect(res.code).toBe(0);
    for (const sub of ['policy list', 'policy set', 'policy delete']) expect(res.stdout).toContain(sub);
    const set = await cli(['policy', 'set', '--help']);
    for (const option of ['--admin-url', '--admin-token', '--host', '--default', '--request-cache-control']) expect(set.stdout).toContain(option);
    expect(set.stdout).toContain('http://127.0.0.1:8081');
  });

  it('policy with no admin API listening: exit 1 and says where it looked', async () => {
    const port = await freePort();
    const res = await cli(['policy', 'list', '--admin-url', `http://127.0.0.1:${port}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach the admin API at http://127.0.0.1:${port}`);
  });
});

describe('a running proxy and the policy subcommands', () => {
  let child: ChildProcess;
  let origin: Origin;
  let proxyUrl: string;
  let adminUrl: string;
  const token = 'cli-test-token';
  const ETAG = '"cli-1"';

  beforeAll(async () => {
    origin = await startOrigin({
      '*': (_req, res) => void res.writeHead(200, { etag: ETAG, 'cache-control': 'max-age=600', 'content-length': 3 }).end('abc'),
    });
    const adminPort = await freePort();
    const config = writeConfig('good.yaml', 'validators: pass\npolicies:\n  clients:\n    - match: from-file\n      validators: isolate\n');
    const args = ['--config', config, '--port', '0', '--admin-port', String(adminPort), '--admin-token', token];
    const run = cliEnv(args);
    child = spawn(process.execPath, [mainJs, ...args], { cwd: root, env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('exit', run.cleanup);
    const lines = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const listening = await new Promise<{ msg: string; admin: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" log line within 10 s; stderr: ${stderr}`)), 10_000);
      child.once('exit', (code) => reject(new Error(`proxy exited early (${code}): ${stderr}`)));
      lines.on('line', (line) => {
        const record = JSON.parse(line) as { msg: string; admin: string };
        if (!record.msg.startsWith('etag-proxy listening on ')) return;
        clearTimeout(timer);
        resolve(record);
      });
    });
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

  const admin = (...args: string[]) => cli(['policy', ...args, '--admin-url', adminUrl, '--admin-token', token]);

  it('starts on --port 0 and logs the address it got, and the admin address', () => {
    expect(proxyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proxyUrl).not.toMatch(/:0$/);
    expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('policy set / list / delete change what the proxy does', async () => {
    const replay = () => viaProxy(proxyUrl, `${origin.url}/cli`, { headers: { 'x-proxy-client': 'scraper-7', 'if-none-match': ETAG } });
    await viaProxy(proxyUrl, `${origin.url}/cli`);
    expect((await replay()).status).toBe(304);

    const set = await admin('set', 'scraper-7', 'strip');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('client rule scraper-7: validators=strip');
    const stripped = await replay();
    expect(stripped.status).toBe(200);
    expect(stripped.text).toBe('abc');

    expect((await admin('set', '--host', '*.example.com', 'isolate', '--request-cache-control', 'ignore')).code).toBe(0);
    expect((await admin('set', '--default', 'pass')).code).toBe(0);
    const list = await admin('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/client from-file\s+isolate/);
    expect(list.stdout).toMatch(/client scraper-7\s+strip/);
    expect(list.stdout).toMatch(/host \*\.example\.com\s+isolate\s+ignore/);
    expect(list.stdout).toMatch(/default\s+pass/);
    expect(list.stdout).toMatch(/flags\s+pass\s+honor/);
    const json = await admin('list', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ policies: { default: { validators: 'pass' } } });

    const deleted = await admin('delete', 'scraper-7');
    expect(deleted.code).toBe(0);
    expect((await replay()).status).toBe(304);
  });

  it("a non-2xx answer prints the server's reason on stderr and exits 1", async () => {
    const bad = await admin('set', 'scraper-7', 'stirp');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('400 body.validators: expected pass | strip | isolate, got "stirp"');
    const missing = await admin('delete', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404 no client rule "nobody"');
    const noToken = await cli(['policy', 'list', '--admin-url', adminUrl]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('401');
  });

  it('reads the token from ETAG_PROXY_ADMIN_TOKEN', async () => {
    const res = await cli(['policy', 'list', '--admin-url', adminUrl], { ETAG_PROXY_ADMIN_TOKEN: token });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('from-file');
  });
});

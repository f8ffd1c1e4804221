// Bad command-line input as users type it: one line on stderr naming the flag and the expected
// form, exit code 2, no help dump and no stack trace; a port in use is one line and exit 1. The
// start-up log: one line, naming the rules in force and where they came from.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { CLI, cliEnv, freePort, startCli } from '../helpers/cli.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'etag-proxy-cli-input-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run the CLI to its end; one that starts serving instead (a regression) is killed after 20 s (a loaded 2-core machine takes seconds to start it, and --workers starts three processes). */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const run = cliEnv(args);
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000, env: run.env }, (error, stdout, stderr) => {
      run.cleanup();
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

/** Exit code 2 and exactly `line` on stderr: nothing on stdout, no help, no stack. */
async function expectUsageError(args: string[], line: string, code = 2): Promise<void> {
  const res = await runCli(args);
  expect(res.stderr, args.join(' ')).toBe(`etag-proxy: ${line}\n`);
  expect(res.code, args.join(' ')).toBe(code);
  expect(res.stdout, args.join(' ')).toBe('');
}

describe('bad flags: one line naming the flag, exit 2', () => {
  it('a value outside the choices (no help dump)', async () => {
    await Promise.all([
      expectUsageError(['--validators', 'stirp'], '--validators: expected pass | strip | isolate, got "stirp"'),
      expectUsageError(['--request-cache-control', 'never'], '--request-cache-control: expected honor | ignore, got "never"'),
      expectUsageError(['--log-level', 'loud'], '--log-level: expected debug | info | warn | error | silent, got "loud"'),
    ]);
  });

  it('a number that is not one says what was given, as the config file does', async () => {
    await Promise.all([
      expectUsageError(['--port', 'abc'], '--port: expected an integer from 0 to 65535, got "abc"'),
      expectUsageError(['--port', '70000'], '--port: expected an integer from 0 to 65535, got "70000"'),
      expectUsageError(['--workers', 'two'], '--workers: expected an integer from 1 to 256, got "two"'),
      expectUsageError(['--shutdown-timeout', 'soon'], '--shutdown-timeout: expected a duration such as 30s, 250ms or 7d, got "soon"'),
      expectUsageError(['--require-auth=maybe'], '--require-auth: expected true or false, got "maybe"'),
    ]);
  });

  it('a flag without its value does not start the proxy on the default', async () => {
    await Promise.all([
      expectUsageError(['--port'], '--port: expected an integer from 0 to 65535, got no value'),
      expectUsageError(['--port', '--host', '127.0.0.1'], '--port: expected an integer from 0 to 65535, got no value'),
      expectUsageError(['--config'], '--config: expected a file name, got no value'),
      expectUsageError(['--port', '0', '--store'], '--store: expected a non-empty string, got no value'),
    ]);
  });

  it('unknown flags and stray arguments', async () => {
    await Promise.all([
      expectUsageError(['--prot', '8080'], '--prot: unknown option; see etag-proxy --help'),
      expectUsageError(['--port', '0', '-z'], '-z: unknown option; see etag-proxy --help'),
      expectUsageError(['sevre'], '"sevre": unknown argument; see etag-proxy --help'),
    ]);
  });

  it('a store URL that cannot be one names --store and what was expected (not "cannot start: Invalid URL")', async () => {
    await Promise.all([
      expectUsageError(['--port', '0', '--store', 'redis://h:notaport/0'], '--store: expected a URL such as redis://host:6379/0 (the port a number from 1 to 65535), got "redis://h:notaport/0"'),
      expectUsageError(['--port', '0', '--store', 'redis://:secret@h:6379/db'], '--store: expected a database number after the port (/0, /1, …), got "redis://:***@h:6379/db"'),
      expectUsageError(['--port', '0', '--store', 'redis+cluster://a:7000,b:notaport'], '--store: expected host:port in the seed list, got "b:notaport" (redis+cluster://a:7000,b:notaport)'),
    ]);
  });

  it('a --log-file that cannot hold a log (under /proc or /sys) is one line and exit 2, at once, not a hang', async () => {
    const started = Date.now();
    await Promise.all([
      expectUsageError(['--port', '0', '--log-file', '/proc/etag-proxy-test/proxy.log'], '--log-file: cannot open /proc/etag-proxy-test/proxy.log for appending: /proc is on procfs, not a filesystem for logs'),
      expectUsageError(['--port', '0', '--log-file', '/proc/self/status'], '--log-file: cannot open /proc/self/status for appending: /proc/self is on procfs, not a filesystem for logs'),
      expectUsageError(['--port', '0', '--log-file', '/sys/kernel/etag-proxy.log'], '--log-file: cannot open /sys/kernel/etag-proxy.log for appending: /sys/kernel is on sysfs, not a filesystem for logs'),
    ]);
    // Three starts of the CLI: seconds on a loaded machine; the hang it replaces never ended.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('the last of a repeated flag wins, and is validated', async () => {
    await expectUsageError(['--port', '1', '--port', 'x'], '--port: expected an integer from 0 to 65535, got "x"');
  });

  it('a secret file that cannot be read names the flag and the file, not its contents', async () => {
    const missing = join(tmp, 'missing-token');
    const empty = join(tmp, 'empty-token');
    writeFileSync(empty, '\n');
    await Promise.all([
      expectUsageError(['--admin-token-file', missing], `--admin-token-file: cannot read ${missing}: ENOENT`),
      expectUsageError(['--admin-token-file', empty], `--admin-token-file: ${empty} is empty; expected the secret on its first line`),
    ]);
  });
});

describe('a port in use: one line, exit 1', () => {
  it('the admin port', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const { port } = busy.address() as net.AddressInfo;
    try {
      await Promise.all([
        expectUsageError(['--port', '0', '--admin-port', String(port)], `cannot listen on 127.0.0.1:${port} (--admin-port): address already in use`, 1),
        expectUsageError(['--port', String(port)], `cannot listen on 127.0.0.1:${port}: address already in use`, 1),
      ]);
    } finally {
      busy.close();
    }
  });
});

/** Every JSON line the CLI printed before the test's first request. */
const startLines = (output: string) => output.split('\n').filter((line) => line.trim() !== '');

describe('the start-up line', () => {
  it('is one line: address, store, flags, the rules in force and where they came from', async () => {
    const config = join(tmp, 'rules.yaml');
    writeFileSync(config, 'policies:\n  default: { validators: strip }\n  clients:\n    - { match: "scraper-*", validators: isolate, requestCacheControl: ignore }\n  hosts:\n    - { match: "*.example.com", validators: pass }\n');
    const cli = startCli(['--config', config, '--port', '0']);
    try {
      await cli.waitFor('listening on');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lines = startLines(cli.output());
      expect(lines).toHaveLength(1);
      const record = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(Object.keys(record)).toEqual(['time', 'level', 'msg', 'store', 'cacheSizeBytes', 'validators', 'requestCacheControl', 'rules', 'rulesFrom']);
      expect(record).toMatchObject({
        level: 'info',
        // No --store: the disk store in the user's cache directory (test/helpers/cli.ts gives each run its own).
        store: expect.stringMatching(/^disk:\/.+\/etag-proxy$/),
        cacheSizeBytes: 256 * 1024 * 1024,
        validators: 'pass',
        requestCacheControl: 'honor',
        rules: 'client scraper-*: isolate, ignore; host *.example.com: pass; default: strip',
        rulesFrom: 'config file',
      });
      expect(record['msg']).toMatch(/^etag-proxy listening on http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await cli.stop();
    }
  });

  it('without a config file: no rules', async () => {
    const cli = startCli(['--port', '0', '--validators', 'strip']);
    try {
      await cli.waitFor('listening on');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lines = startLines(cli.output());
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ validators: 'strip', rules: 'none', rulesFrom: 'no config file' });
    } finally {
      await cli.stop();
    }
  });

  describe('with Redis', () => {
    let redis: { url: string; stop(): Promise<void> };
    const namespace = testNamespace('start-line');
    beforeAll(async () => {
      redis = await redisForTests();
    });
    afterAll(async () => {
      await cleanNamespace(redis.url, namespace);
      await cleanNamespace(redis.url, `${namespace}-workers`);
      await redis.stop();
    });

    it('--workers 2 on a port in use: exit 1 with the reason, not workers restarted forever', async () => {
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
      const { port } = busy.address() as net.AddressInfo;
      try {
        const res = await runCli(['--port', String(port), '--workers', '2', '--store', redis.url, '--namespace', `${namespace}-workers`]);
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(`etag-proxy: cannot listen on 127.0.0.1:${port}: address already in use\n`);
        expect(res.stdout).not.toContain('starting another');
      } finally {
        busy.close();
      }
    });

    it('says when rules stored in Redis (changed at run time) override the config file, when an edited file is kept out, and when it replaces them', async () => {
      const config = join(tmp, 'redis-rules.yaml');
      writeFileSync(config, 'policies:\n  clients:\n    - { match: from-file, validators: isolate }\n');
      const adminPort = await freePort();
      const args = ['--config', config, '--port', '0', '--store', redis.url, '--namespace', namespace, '--admin-port', String(adminPort)];
      const first = startCli(args);
      try {
        await first.waitFor('listening on');
        expect(first.output()).toContain('"rules":"client from-file: isolate","rulesFrom":"config file"');
        const put = await fetch(`http://127.0.0.1:${adminPort}/policies/clients/scraper-7`, { method: 'PUT', body: '{"validators":"strip"}' });
        expect(put.status).toBe(201);
      } finally {
        await first.stop();
      }
      const second = startCli(args);
      try {
        await second.waitFor('listening on');
        expect(second.output()).toContain('"rules":"client from-file: isolate; client scraper-7: strip","rulesFrom":"store (changed at run time; they override the config file)"');
      } finally {
        await second.stop();
      }
      writeFileSync(config, 'policies:\n  clients:\n    - { match: from-file, validators: pass }\n');
      const third = startCli(args);
      try {
        await third.waitFor('listening on');
        expect(third.output()).toContain(
          `"rules":"client from-file: isolate; client scraper-7: strip","rulesFrom":"store (the fleet's, kept: the config file's differ; --replace-fleet-rules replaces them)"`,
        );
      } finally {
        await third.stop();
      }
      const fourth = startCli([...args, '--replace-fleet-rules']);
      try {
        await fourth.waitFor('listening on');
        expect(fourth.output()).toContain(`"rules":"client from-file: pass","rulesFrom":"config file (--replace-fleet-rules: replaces the fleet's rules)"`);
      } finally {
        await fourth.stop();
      }
      // Started without --config, a proxy adopts the fleet's rules and leaves them in the store.
      const bare = startCli(['--port', '0', '--store', redis.url, '--namespace', namespace]);
      try {
        await bare.waitFor('listening on');
        expect(bare.output()).toContain(`"rules":"client from-file: pass","rulesFrom":"store (adopted the fleet's: this proxy's configuration names no rules)"`);
      } finally {
        await bare.stop();
      }
      const after = startCli(args);
      try {
        await after.waitFor('listening on');
        expect(after.output()).toContain('"rules":"client from-file: pass","rulesFrom":"config file"');
      } finally {
        await after.stop();
      }
    });
  });
});

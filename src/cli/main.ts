#!/usr/bin/env node
// The `etag-proxy` command: registers the commands and their options (from the one table in
// config/options.ts), nothing else. The proxy itself (serve.ts) is imported only when started.
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CONFIG_OPTION, OPTIONS } from '../config/options.js';
import { caCommand } from './ca-command.js';
import { policyCommand } from './policy-command.js';
import { parentsCommand } from './parents-command.js';
import { rulesCommand } from './rules-command.js';
import { fatal } from './fatal.js';
import { changesCommand } from './changes-command.js';
import { purgeCommand } from './purge-command.js';
import { statsCommand } from './stats-command.js';

// Every value is read as a string and validated by the same schema as the config file, so
// `--port abc` and `port: abc` get the same message (yargs would turn "abc" into NaN, and a
// boolean flag would turn `--require-auth=maybe` into false). No `choices` either: the schema
// says what was expected, and yargs would print its whole help instead.
const serveOptions = Object.fromEntries(
  Object.entries(OPTIONS).map(([name, row]) => [
    name,
    {
      type: 'string' as const,
      describe: 'choices' in row ? `${row.describe} [${row.choices.join(', ')}]` : row.describe,
      // No yargs default: only flags actually given override the config file.
      ...(row.default !== undefined && { defaultDescription: String(row.default) }),
      ...('repeatable' in row && { array: true }),
    },
  ]),
);

const REPEATABLE: ReadonlySet<string> = new Set(Object.entries(OPTIONS).filter(([, row]) => 'repeatable' in row).map(([name]) => name));

function lastValueWins(argv: Record<string, unknown>): void {
  // No command takes arguments after `--` (`npx etag-proxy -- --version` would otherwise start
  // the proxy with them ignored); `--` itself is yargs' list of them, never cut to its last.
  const afterDashes = argv['--'];
  if (Array.isArray(afterDashes) && afterDashes.length > 0) usageError(`${afterDashes.map((a) => JSON.stringify(String(a))).join(', ')}: unexpected after --`, undefined);
  for (const [key, value] of Object.entries(argv)) {
    if (key !== '_' && key !== '--' && !REPEATABLE.has(key) && Array.isArray(value)) argv[key] = value.at(-1);
  }
}

// This package's own version, read from the package.json three folders above dist/src/cli/main.js,
// so --version never depends on where yargs' own lookup would find a package.json.
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Bad command-line input: one line naming the flag, exit code 2, no help dump. */
function usageError(message: string | null | undefined, error: Error | undefined): never {
  // An error thrown by a command itself is not a usage mistake.
  if (!message && error) fatal(1, error.message);
  const unknown = /^Unknown arguments?: (.+)$/.exec(message ?? '');
  if (unknown) {
    const given = process.argv.slice(2);
    const names = unknown[1]!.split(', ').map((name) => {
      const flag = [`--${name}`, `-${name}`].find((f) => given.some((arg) => arg === f || arg.startsWith(`${f}=`)));
      return flag ?? JSON.stringify(name);
    });
    fatal(2, `${names.join(', ')}: unknown ${names.every((n) => n.startsWith('-')) ? 'option' : 'argument'}; see etag-proxy --help`);
  }
  fatal(2, `${message ?? 'bad command line'}; see etag-proxy --help`);
}

await yargs(hideBin(process.argv))
  .scriptName('etag-proxy')
  .usage('$0 [options]: a forward caching HTTP proxy (RFC 9111) that revalidates with its own validators')
  .command(
    ['$0', 'serve'],
    'start the proxy (the default command)',
    (y) =>
      y.options(serveOptions).option('config', {
        type: 'string',
        describe: CONFIG_OPTION.describe,
      }),
    async (argv) => {
      // Loaded only to start the proxy: the whole proxy's module graph (undici, pino,
      // prom-client, the pipeline) costs most of --version's and every admin command's start-up.
      const { serve } = await import('./serve.js');
      await serve(argv as Parameters<typeof serve>[0]);
    },
  )
  .command(policyCommand)
  .command(rulesCommand)
  .command(parentsCommand)
  .command(caCommand)
  .command(statsCommand)
  .command(purgeCommand)
  .command(changesCommand)
  .strict()
  // The messages usageError reads are yargs' English ones, whatever the user's locale.
  .locale('en')
  // `--port 1 --port 2` means 2, as in most command lines (not the list ["1", "2"]); only a
  // repeatable option (--watch) keeps every value. yargs can only collect duplicates for all
  // options or none, so they are collected, then cut back to the last for the others.
  .parserConfiguration({ 'duplicate-arguments-array': true, 'flatten-duplicate-arrays': true })
  .middleware(lastValueWins, true)
  .fail((message, error) => usageError(message, error))
  .help()
  .alias('h', 'help')
  .version(version)
  .wrap(Math.min(110, process.stdout.columns || 110))
  .parseAsync();

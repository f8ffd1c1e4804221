#!/usr/bin/env node
// The `etag-proxy` command: registers the commands and their options (from the one table in
// config/options.ts), nothing else.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OPTIONS } from '../config/options.js';
import { caCommand } from './ca-command.js';
import { policyCommand } from './policy-command.js';
import { serve } from './serve.js';

const serveOptions = Object.fromEntries(
  Object.entries(OPTIONS).map(([name, row]) => [
    name,
    {
      type: row.type,
      describe: row.describe,
      // No yargs default: only flags actually given override the config file.
      ...(row.default !== undefined && { defaultDescription: String(row.default) }),
      ...('choices' in row && { choices: row.choices as string[] }),
    },
  ]),
);

await yargs(hideBin(process.argv))
  .scriptName('etag-proxy')
  .usage('$0 [options]: a forward caching HTTP proxy (RFC 9111) that revalidates with its own validators')
  .command(
    ['$0', 'serve'],
    'start the proxy (the default command)',
    (y) =>
      y.options(serveOptions).option('config', {
        type: 'string',
        describe: 'config file (YAML or JSON): the same options in camelCase, plus identity and policies',
      }),
    async (argv) => {
      await serve(argv as Parameters<typeof serve>[0]);
    },
  )
  .command(policyCommand)
  .command(caCommand)
  .strict()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(110, process.stdout.columns || 110))
  .parseAsync();

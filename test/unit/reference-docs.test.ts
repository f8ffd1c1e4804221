// The generated reference agrees with the code: the options, metrics and Cache-Status tables in
// docs/reference/ are what `npm run docs` writes from OPTIONS, COUNTERS and DETAIL_MEANING, and
// `etag-proxy --help` shows exactly the OPTIONS table (each option, its help text and default).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_OPTION, OPTIONS, type OptionRow } from '../../src/config/options.js';
import { GENERATED_DOCS, regenerate } from '../../tools/reference.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('generated reference', () => {
  for (const doc of GENERATED_DOCS) {
    it(`${doc.file} is what \`npm run docs\` writes from the code`, () => {
      const committed = readFileSync(join(root, doc.file), 'utf8');
      // A difference here means the code changed without `npm run docs` (or the file was edited by hand).
      expect(committed).toBe(regenerate(doc, committed));
    });
  }
});

/** `--help` of the built CLI (global setup builds dist/), cut into one entry per option. */
async function helpByOption(): Promise<Map<string, string>> {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'dist/src/cli/main.js'), '--help'], { cwd: root, timeout: 15_000 }, (error, out) => (error ? reject(error) : resolve(out))),
  );
  const options = stdout.slice(stdout.indexOf('\nOptions:'));
  const entries = new Map<string, string>();
  // An option starts a line at yargs' option column ("      --port", "  -h, --help"); a wrapped help
  // text line is indented further, even when it starts with a flag's name.
  for (const part of options.split(/\n(?= {6}--| {2}-\w, --)/).slice(1)) {
    const match = /^ +(?:-\w, )?--([\w-]+)\s+([\s\S]*)$/.exec(part);
    if (match) entries.set(match[1]!, match[2]!.replace(/\s+/g, ' ').trim());
  }
  return entries;
}

describe('--help and the OPTIONS table', () => {
  it('--help lists every option with its help text and default, and no option the table lacks', async () => {
    const help = await helpByOption();
    for (const [name, option] of Object.entries(OPTIONS)) {
      const row: OptionRow = option;
      const shown = help.get(name);
      expect(shown, `--${name} is missing from --help`).toBeDefined();
      const describe = row.choices ? `${row.describe} [${row.choices.join(', ')}]` : row.describe;
      expect(shown, `--${name}: help text`).toContain(describe.replace(/\s+/g, ' '));
      if (row.default !== undefined) expect(shown, `--${name}: default`).toContain(`[default: ${String(row.default)}]`);
      else expect(shown, `--${name}: no default`).not.toContain('[default:');
    }
    expect(help.get('config')).toContain(CONFIG_OPTION.describe);
    const extra = [...help.keys()].filter((name) => !(name in OPTIONS) && !['config', 'help', 'version'].includes(name));
    expect(extra, 'options in --help that the OPTIONS table (and so the reference) lacks').toEqual([]);
  });
});

// The generated parts of the reference: the options table (from config/options.ts OPTIONS), the
// metrics table (observe/counters.ts COUNTERS) and the Cache-Status tables (cache/cache-status.ts
// DETAIL_MEANING, FWD_MEANING; policy/validators.ts DROPPED_FIELDS). Each sits in its docs file
// between BEGIN / END markers; the prose around it is written by hand. `npm run docs` rewrites
// the parts (tools/write-reference.ts); test/unit/reference-docs.test.ts fails when they differ.
import { DETAIL, DETAIL_MEANING, FWD_MEANING } from '../src/cache/cache-status.js';
import { CONFIG_OPTION, fileKey, OPTIONS, type OptionRow } from '../src/config/options.js';
import { COUNTERS } from '../src/observe/counters.js';
import { DROPPED_FIELDS } from '../src/policy/validators.js';

/** A docs file and the generated parts it holds, by name. */
export interface GeneratedDoc {
  file: string;
  parts: Record<string, () => string>;
}

export const GENERATED_DOCS: readonly GeneratedDoc[] = [
  { file: 'docs/reference/options.md', parts: { options: optionsTable } },
  { file: 'docs/reference/metrics.md', parts: { metrics: metricsTable } },
  { file: 'docs/reference/cache-status.md', parts: { fwd: fwdTable, detail: detailTable } },
];

const cell = (text: string): string => text.replace(/\|/g, '\\|');
const code = (text: string): string => `\`${text}\``;

function optionsTable(): string {
  const rows = Object.entries(OPTIONS).map(([flag, option]) => {
    const row: OptionRow = option;
    const values = row.choices ? ` One of ${row.choices.map(code).join(', ')}.` : '';
    const repeat = row.repeatable ? ' Repeatable.' : '';
    const deflt = row.default === undefined ? 'none' : code(String(row.default));
    const env = row.env ? code(row.env) : '';
    return `| ${code(`--${flag}`)} | ${code(fileKey(flag))} | ${cell(deflt)} | ${env} | ${cell(row.describe)}.${values}${repeat} |`;
  });
  rows.push(`| ${code('--config')} | | none | | ${cell(CONFIG_OPTION.describe)} |`);
  return ['| flag | config key | default | environment | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

function metricsTable(): string {
  const rows = Object.values(COUNTERS).map((row) => {
    const labels = row.labels.length ? row.labels.map(code).join(', ') : '';
    const type = 'buckets' in row && row.buckets ? `histogram (buckets ${row.buckets.join(', ')})` : row.type;
    return `| ${code(row.name)} | ${type} | ${labels} | ${cell(row.help)} |`;
  });
  return ['| metric | type | labels | help |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

function fwdTable(): string {
  const rows = Object.entries(FWD_MEANING).map(([reason, meaning]) => `| ${code(`fwd=${reason}`)} | ${cell(meaning)} |`);
  return ['| value | meaning |', '| --- | --- |', ...rows].join('\n');
}

function detailTable(): string {
  const rows = Object.entries(DETAIL_MEANING).map(([key, meaning]) => `| ${code(DETAIL[key as keyof typeof DETAIL])} | ${cell(meaning)} |`);
  for (const field of DROPPED_FIELDS) {
    rows.push(`| ${code(`dropped-${field}`)} | the client's ${code(field === 'range' ? 'Range' : headerName(field))} was removed by its validator policy (\`strip\`, or \`isolate\` for a validator this proxy did not serve this client) |`);
  }
  return ['| detail | meaning |', '| --- | --- |', ...rows].join('\n');
}

const headerName = (field: string): string => field.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());

const begin = (name: string): string => `<!-- BEGIN generated:${name} (npm run docs; do not edit by hand) -->`;
const end = (name: string): string => `<!-- END generated:${name} -->`;

/** The file's text with each generated part replaced by what the code says now. */
export function regenerate(doc: GeneratedDoc, text: string): string {
  let out = text;
  for (const [name, render] of Object.entries(doc.parts)) {
    const from = out.indexOf(begin(name));
    const to = out.indexOf(end(name));
    if (from < 0 || to < from) throw new Error(`${doc.file}: no generated part "${name}" (expected the lines ${begin(name)} … ${end(name)})`);
    out = `${out.slice(0, from)}${begin(name)}\n${render()}\n${out.slice(to)}`;
  }
  return out;
}

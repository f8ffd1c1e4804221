// Number and Markdown formatting for the benchmark's report: one Markdown table builder and the
// units it prints (req/s, ms, MB, %), so every table in the output reads the same way.

export function table(header: string[], rows: string[][], rightAligned: boolean[] = header.map((_, i) => i > 0)): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, i) => (rightAligned[i] ? '---:' : '---'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export const ms = (n: number): string => (Number.isInteger(n) || n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

export const pct = (n: number): string => `${n.toFixed(0)} %`;

export function mb(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

export const bytes = (n: number): string => `${int(n)} B`;

export function bar(label: string, ok: boolean | undefined, detail: string): string {
  const verdict = ok === undefined ? 'SKIPPED' : ok ? 'PASS' : 'FAIL';
  return `- ${label}: **${verdict}** (${detail})`;
}

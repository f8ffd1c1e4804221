// Every relative link in README.md, CHANGELOG.md and docs/**/*.md leads somewhere: the file
// exists and, for a link to a heading (`file.md#anchor`), the heading does (GitHub's anchors:
// lower case, punctuation dropped, spaces to dashes, -1, -2… for repeats). Links inside code
// blocks and to other sites are not checked.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function markdownFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

const withoutFences = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '');
// Brackets inside inline code are not link syntax.
const withoutCode = (text: string): string => withoutFences(text).replace(/`[^`\n]*`/g, (span) => span.replace(/[[\]()]/g, ' '));

/** GitHub's heading anchors. */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(readFileSync(join(root, file), 'utf8')).split('\n')) {
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

const files = ['README.md', 'CHANGELOG.md', ...markdownFiles('docs')];

describe('documentation links', () => {
  for (const file of files) {
    it(`every relative link in ${file} resolves`, () => {
      const broken: string[] = [];
      for (const match of withoutCode(readFileSync(join(root, file), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = match[1]!;
        if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto: …
        const [path, anchor] = link.split('#', 2) as [string, string | undefined];
        const target = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
        if (relative(root, join(root, target)).startsWith('..') || !existsSync(join(root, target))) {
          broken.push(`${link} (no file ${target})`);
          continue;
        }
        if (anchor && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${link} (no heading #${anchor} in ${target})`);
      }
      expect(broken).toEqual([]);
    });
  }
});

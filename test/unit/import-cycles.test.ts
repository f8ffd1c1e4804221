// No module in src/ reaches itself through its imports, type-only imports included: a type
// shared by two modules lives in a module of its own (pipeline/step.ts, admin/admin-route.ts,
// policy/types.ts, observe/finished-request.ts). The graph is read with TypeScript's own
// import scanner, so multi-line, `import type`, re-exports and dynamic imports all count.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Module → the modules of src/ it imports (relative specifiers, `.js` as written for NodeNext). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((ref) => ref.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      .filter((target) => known.has(target));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle found by a depth-first search, each reported once, as a path a → b → … → a. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import cycles', () => {
  it('finds a cycle when there is one (the check can fail)', () => {
    const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('reads multi-line, type-only and re-export imports of src/ modules', () => {
    const files = sourceFiles(src);
    const graph = importGraph(files);
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get(join(src, 'pipeline/steps.ts'))).toContain(join(src, 'pipeline/recv.ts'));
    expect(graph.get(join(src, 'pipeline/recv.ts'))).toContain(join(src, 'pipeline/step.ts'));
  });

  it('has no import cycle anywhere in src/, type-only imports included', () => {
    const cycles = findCycles(importGraph(sourceFiles(src))).map((cycle) => cycle.map((file) => relative(src, file)).join(' → '));
    expect(cycles).toEqual([]);
  });
});

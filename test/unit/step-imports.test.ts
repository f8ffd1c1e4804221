// A step file (one of the modules in the step table, src/pipeline/steps.ts) imports no other
// step file: a helper two steps share lives in a module of its own (request-facts.ts,
// stored-head.ts, own-pages.ts, offline.ts), so the only way from one step to the next is the
// name it returns to the driver. Read with TypeScript's own import scanner.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const pipeline = fileURLToPath(new URL('../../src/pipeline/', import.meta.url));

function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(`${pipeline}${file}`, 'utf8'), true, true);
  return importedFiles.map((ref) => ref.fileName).filter((spec) => spec.startsWith('./')).map((spec) => basename(spec, '.js'));
}

describe('step files', () => {
  const steps = localImports('steps.ts').filter((name) => name !== 'step');

  it('the step table lists the step modules', () => {
    expect(steps).toEqual(expect.arrayContaining(['recv', 'lookup', 'deliver', 'revalidate', 'synth']));
  });

  it('import no other step module', () => {
    const crossings = steps.flatMap((step) => localImports(`${step}.ts`).filter((name) => steps.includes(name)).map((name) => `${step} -> ${name}`));
    expect(crossings).toEqual([]);
  });
});

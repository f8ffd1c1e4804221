// `npm run docs`: rewrites the generated parts of the reference (tools/reference.ts) in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_DOCS, regenerate } from './reference.js';

// Run as dist/tools/write-reference.js (npm run docs); the repository is two folders up.
const root = fileURLToPath(new URL('../..', import.meta.url));

for (const doc of GENERATED_DOCS) {
  const path = join(root, doc.file);
  const before = readFileSync(path, 'utf8');
  const after = regenerate(doc, before);
  if (after !== before) writeFileSync(path, after);
  console.log(`${doc.file}: ${after === before ? 'unchanged' : 'updated'}`);
}

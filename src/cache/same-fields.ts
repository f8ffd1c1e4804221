// Comparing two entries' stored fields, for the 304 refresh's shortcuts (the usual 304 changes
// Date alone, so what was derived from the old fields can be kept).
import type { EntryMeta } from '../store/types.js';

/** Do `a` and `b` hold the same fields with the same values, leaving out the names in `outside`? */
export function sameFieldsOutside(a: EntryMeta['headers'], b: EntryMeta['headers'], outside: ReadonlySet<string>): boolean {
  let count = 0;
  for (const name in a) {
    if (outside.has(name)) continue;
    count++;
    const x = a[name];
    const y = b[name];
    if (x === y) continue;
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  for (const name in b) if (!outside.has(name)) count--;
  return count === 0;
}

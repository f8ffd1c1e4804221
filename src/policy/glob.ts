// Globs from the config file and the admin API (client and host globs, --intercept and
// --passthrough, crawl rules' `path` and `ignoreQuery`) compiled to matchers whose time is linear
// in the text: the set of pattern positions reached is carried along the text as a bit vector
// (Thompson's construction, shift-and), with no RegExp and so no backtracking that a pattern
// such as `*a*a*a*a*a*a*b` could make exponential (invariant 6). Pattern length and brace
// alternatives are capped when a pattern is loaded; GlobError says why a pattern is refused.
//
// Two dialects:
// - `wildcard` (paths, query names): `*` any run of characters (`/` too), `?` one; the rest literal.
// - `name` (client ids, hosts, as picomatch read them with `dot: true`): `*` and `?` stop at `/`,
//   `**` crosses it, `[a-z]` / `[!a-z]` / `[^a-z]` classes, `{a,b}` alternatives, `\` escapes,
//   and a leading `!` negates. Extglobs (`@(…)`, `+(…)`, …), POSIX classes and `{1..3}` ranges
//   are refused rather than read differently.

/** A pattern this module refuses (too long, too many alternatives, or syntax it does not read). */
export class GlobError extends Error {
  /** What a pattern must be, for `<key>: expected <this>, got "<pattern>"`. */
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
    this.name = 'GlobError';
  }
}

export type GlobDialect = 'wildcard' | 'name';
export type GlobTest = (text: string) => boolean;

/** Longest pattern accepted: ample for a host, id or path glob, and a bound on the matcher's work per character. */
export const MAX_GLOB_LENGTH = 1024;
/** Most alternatives a pattern's braces may expand to (`{a,b}{c,d}` is four). */
export const MAX_GLOB_ALTERNATIVES = 64;
/** Most positions of the matcher (atoms, plus one per alternative): a step costs one operation per 32. */
export const MAX_GLOB_STATES = 2048;

const SLASH = 0x2f;

type Atom =
  | { kind: 'star'; crossesSlash: boolean }
  | { kind: 'char'; code: number }
  | { kind: 'any'; crossesSlash: boolean }
  | { kind: 'class'; negated: boolean; ranges: number[] };

/** Compile `pattern` once; the matcher is called for every text. Throws GlobError. */
export function compileGlob(pattern: string, dialect: GlobDialect): GlobTest {
  if (pattern.length > MAX_GLOB_LENGTH) throw new GlobError(`a glob of at most ${MAX_GLOB_LENGTH} characters`);
  if (dialect === 'wildcard') return matcherOf([wildcardAtoms(pattern)]);
  let body = pattern;
  let negated = false;
  while (body.startsWith('!') && !body.startsWith('!(')) {
    negated = !negated;
    body = body.slice(1);
  }
  const any = matcherOf(expandBraces(body).map(nameAtoms));
  return negated ? (text) => !any(text) : any;
}

/** Any of `patterns` (an empty list matches nothing). */
export function compileGlobs(patterns: readonly string[], dialect: GlobDialect): GlobTest {
  const tests = patterns.map((pattern) => compileGlob(pattern, dialect));
  return (text) => tests.some((test) => test(text));
}

function wildcardAtoms(pattern: string): Atom[] {
  const atoms: Atom[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const code = pattern.charCodeAt(i);
    if (code === 0x2a) pushStar(atoms, true);
    else if (code === 0x3f) atoms.push({ kind: 'any', crossesSlash: true });
    else atoms.push({ kind: 'char', code });
  }
  return atoms;
}

function pushStar(atoms: Atom[], crossesSlash: boolean): void {
  const last = atoms[atoms.length - 1];
  // `**`, `***`: one star (the widest) is the same language.
  if (last?.kind === 'star') last.crossesSlash ||= crossesSlash;
  else atoms.push({ kind: 'star', crossesSlash });
}

function nameAtoms(pattern: string): Atom[] {
  const atoms: Atom[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const next = pattern[i + 1];
    if ('@!+*?'.includes(c) && next === '(') throw new GlobError(`a glob without extglobs such as ${c}(…) (use {a,b} alternatives)`);
    if (c === '\\') {
      if (next === undefined) throw new GlobError('a glob that does not end in a lone \\');
      atoms.push({ kind: 'char', code: pattern.charCodeAt(++i) });
    } else if (c === '*') {
      const double = next === '*';
      if (double) while (pattern[i + 1] === '*') i++;
      pushStar(atoms, double);
    } else if (c === '?') {
      atoms.push({ kind: 'any', crossesSlash: false });
    } else if (c === '[') {
      const parsed = parseClass(pattern, i);
      if (parsed) {
        atoms.push(parsed.atom);
        i = parsed.end;
      } else {
        atoms.push({ kind: 'char', code: 0x5b }); // no closing ]: a literal [
      }
    } else {
      atoms.push({ kind: 'char', code: pattern.charCodeAt(i) });
    }
  }
  return atoms;
}

/** `[…]` starting at `start`: the class and the index of its `]`, or undefined when it never closes. */
function parseClass(pattern: string, start: number): { atom: Atom; end: number } | undefined {
  let i = start + 1;
  const negated = pattern[i] === '!' || pattern[i] === '^';
  if (negated) i++;
  const ranges: number[] = [];
  let first = true;
  for (; i < pattern.length; i++) {
    let c = pattern[i]!;
    if (c === ']' && !first) return { atom: { kind: 'class', negated, ranges }, end: i };
    first = false;
    if (c === '[' && pattern[i + 1] === ':') throw new GlobError('a glob without POSIX classes such as [[:alpha:]] (use [a-z])');
    if (c === '\\' && i + 1 < pattern.length) c = pattern[++i]!;
    let low = c.charCodeAt(0);
    let high = low;
    if (pattern[i + 1] === '-' && pattern[i + 2] !== undefined && pattern[i + 2] !== ']') {
      i += 2;
      high = (pattern[i] === '\\' && i + 1 < pattern.length ? pattern[++i]! : pattern[i]!).charCodeAt(0);
      if (high < low) [low, high] = [high, low];
    }
    ranges.push(low, high);
  }
  return undefined;
}

/**
 * `a{b,c}d` → [`abd`, `acd`], nested and repeated groups too, at most MAX_GLOB_ALTERNATIVES.
 * A group without a top-level comma is literal (`{a}`), as in picomatch; `[…]` and `\` escapes
 * are skipped over so that `[{]` and `\{` stay literal.
 */
function expandBraces(pattern: string): string[] {
  const group = firstGroup(pattern);
  if (!group) return [pattern];
  const prefix = pattern.slice(0, group.open);
  const suffix = pattern.slice(group.close + 1);
  const out: string[] = [];
  for (const alternative of group.alternatives) {
    for (const expanded of expandBraces(`${alternative}${suffix}`)) {
      out.push(`${prefix}${expanded}`);
      if (out.length > MAX_GLOB_ALTERNATIVES) throw new GlobError(`a glob whose braces expand to at most ${MAX_GLOB_ALTERNATIVES} alternatives`);
    }
  }
  return out;
}

/** The first `{…}` with a top-level comma: where it opens and closes, and its alternatives. */
function firstGroup(pattern: string): { open: number; close: number; alternatives: string[] } | undefined {
  for (let open = 0; open < pattern.length; open++) {
    const c = pattern[open];
    if (c === '\\') open++;
    else if (c === '[') open = classEnd(pattern, open);
    else if (c === '{') {
      let depth = 0;
      const commas: number[] = [];
      for (let i = open; i < pattern.length; i++) {
        const d = pattern[i];
        if (d === '\\') i++;
        else if (d === '[') i = classEnd(pattern, i);
        else if (d === '{') depth++;
        else if (d === ',' && depth === 1) commas.push(i);
        else if (d === '}' && --depth === 0) {
          const inner = pattern.slice(open + 1, i);
          if (!commas.length) {
            if (/^[^.]*\.\.[^.]*$/.test(inner)) throw new GlobError('a glob without ranges such as {1..3} (list them: {1,2,3})');
            break; // literal group: look for the next one after this `{`
          }
          const cuts = [open, ...commas, i];
          const alternatives = cuts.slice(1).map((cut, k) => pattern.slice(cuts[k]! + 1, cut));
          return { open, close: i, alternatives };
        }
      }
    }
  }
  return undefined;
}

/** Index of the `]` closing a class opened at `open`, or `open` itself when it never closes (a literal `[`). */
function classEnd(pattern: string, open: number): number {
  let i = open + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return open;
}

function matcherOf(alternatives: Atom[][]): GlobTest {
  // Fast paths for the usual shapes: a literal, a lone `*`.
  if (alternatives.length === 1) {
    const atoms = alternatives[0]!;
    if (atoms.every((a) => a.kind === 'char')) {
      const literal = String.fromCharCode(...atoms.map((a) => (a as { code: number }).code));
      return (text) => text === literal;
    }
    const only = atoms.length === 1 ? atoms[0]! : undefined;
    if (only?.kind === 'star') return only.crossesSlash ? () => true : (text) => !text.includes('/');
  }
  const nfa = new BitNfa(alternatives);
  return (text) => nfa.matches(text);
}

function accepts(atom: Atom, code: number): boolean {
  switch (atom.kind) {
    case 'char':
      return atom.code === code;
    case 'any':
    case 'star':
      return atom.crossesSlash || code !== SLASH;
    case 'class': {
      let inside = false;
      for (let r = 0; r < atom.ranges.length && !inside; r += 2) inside = code >= atom.ranges[r]! && code <= atom.ranges[r + 1]!;
      return inside !== atom.negated && !(atom.negated && code === SLASH);
    }
  }
}

/**
 * The alternatives laid end to end as one bit-parallel NFA (shift-and): bit j is live when the
 * atoms before position j in its alternative have matched; each alternative ends in an accepting
 * position that nothing leaves. Per character: live bits whose atom accepts it move one on, live
 * stars that accept it stay, and a live star also opens the position after it (it may match
 * empty; stars never follow stars, so one step is enough). Cost per character: a few operations
 * per 32 positions.
 */
class BitNfa {
  private readonly words: number;
  private readonly starts: Uint32Array;
  private readonly accepting: Uint32Array;
  private readonly stars: Uint32Array;
  private readonly starsCrossingSlash: Uint32Array;
  /** Positions whose (non-star) atom accepts each ASCII character: 128 rows of `words`. */
  private readonly ascii: Uint32Array;
  private readonly atoms: Array<Atom | undefined> = [];
  private readonly beyondAscii = new Map<number, Uint32Array>();
  private live: Uint32Array;
  private next: Uint32Array;

  constructor(alternatives: Atom[][]) {
    for (const atoms of alternatives) this.atoms.push(...atoms, undefined);
    const positions = this.atoms.length;
    if (positions > MAX_GLOB_STATES) throw new GlobError(`a glob of at most ${MAX_GLOB_STATES} characters once its braces are expanded`);
    const words = (this.words = Math.ceil(positions / 32));
    this.starts = new Uint32Array(words);
    this.accepting = new Uint32Array(words);
    this.stars = new Uint32Array(words);
    this.starsCrossingSlash = new Uint32Array(words);
    this.ascii = new Uint32Array(128 * words);
    let at = 0;
    for (const atoms of alternatives) {
      set(this.starts, at);
      at += atoms.length;
      set(this.accepting, at++);
    }
    this.atoms.forEach((atom, j) => {
      if (atom?.kind === 'star') {
        set(this.stars, j);
        if (atom.crossesSlash) set(this.starsCrossingSlash, j);
      } else if (atom) {
        for (let code = 0; code < 128; code++) if (accepts(atom, code)) set(this.ascii, code * words * 32 + j);
      }
    });
    this.openAfterStars(this.starts);
    this.live = new Uint32Array(words);
    this.next = new Uint32Array(words);
  }

  matches(text: string): boolean {
    const { words, stars, starsCrossingSlash, ascii } = this;
    let live = this.live;
    let next = this.next;
    live.set(this.starts);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const row = code < 128 ? code * words : -1;
      const moving = row >= 0 ? ascii : this.maskBeyondAscii(code);
      const base = row >= 0 ? row : 0;
      const staying = code === SLASH ? starsCrossingSlash : stars;
      let carry = 0;
      let any = 0;
      for (let k = 0; k < words; k++) {
        const moved = live[k]! & moving[base + k]!;
        const word = (moved << 1) | carry | (live[k]! & staying[k]!);
        carry = moved >>> 31;
        next[k] = word;
        any |= word;
      }
      if (any === 0) return false;
      this.openAfterStars(next);
      const swap = live;
      live = next;
      next = swap;
    }
    for (let k = 0; k < words; k++) if (live[k]! & this.accepting[k]!) return true;
    return false;
  }

  private openAfterStars(states: Uint32Array): void {
    let carry = 0;
    for (let k = 0; k < this.words; k++) {
      const opened = states[k]! & this.stars[k]!;
      states[k] = states[k]! | (opened << 1) | carry;
      carry = opened >>> 31;
    }
  }

  /** The moving mask for a character past ASCII (rare in hosts, paths and query names): built per character, a few kept. */
  private maskBeyondAscii(code: number): Uint32Array {
    let mask = this.beyondAscii.get(code);
    if (!mask) {
      mask = new Uint32Array(this.words);
      this.atoms.forEach((atom, j) => {
        if (atom && atom.kind !== 'star' && accepts(atom, code)) set(mask!, j);
      });
      if (this.beyondAscii.size < 256) this.beyondAscii.set(code, mask);
    }
    return mask;
  }
}

function set(bits: Uint32Array, index: number): void {
  bits[index >>> 5] = bits[index >>> 5]! | (1 << (index & 31));
}

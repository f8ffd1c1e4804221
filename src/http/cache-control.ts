// The one Cache-Control parser (RFC 9111 §5.2, list syntax RFC 9110 §5.6.1, quoted-string §5.6.4):
// directive names are case-insensitive tokens, a value is a token or a quoted-string, and a comma
// inside a quoted-string does not end a directive (`no-cache="Set-Cookie, Foo"` is one). Lenient
// on malformed input, as caches must be. What the directives mean is decided in cache/.

/** A directive's value when it has one; `true` for a bare directive such as `no-store`. */
export type DirectiveValue = string | true;

const NO_DIRECTIVES: ReadonlyMap<string, DirectiveValue> = new Map();
const QUOTED_STRING = /^"((?:[^"\\]|\\.)*)"$/;

/** The directives as written, trimmed, in order: split on commas outside quoted strings; empty members dropped. */
export function splitDirectives(value: string | undefined): string[] {
  if (!value) return [];
  const directives: string[] = [];
  let start = 0;
  // A quote that opens no complete quoted-string is an ordinary character (lenient, never throws);
  // once one is found no later quote can close either, so the scan stays linear in the field's length.
  let quotesClose = true;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value[i] === ',') {
      const directive = value.slice(start, i).trim();
      if (directive) directives.push(directive);
      start = i + 1;
    } else if (value[i] === '"' && quotesClose) {
      const end = closingQuote(value, i + 1);
      if (end === -1) quotesClose = false;
      else i = end;
    }
  }
  return directives;
}

/** Index of the quote that ends a quoted-string whose content starts at `from` (§5.6.4: `\` escapes one character), or -1. */
function closingQuote(value: string, from: number): number {
  for (let i = from; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '"') return i;
  }
  return -1;
}

/** A directive's name, lower case (RFC 9111 §5.2: names are case-insensitive). */
export function directiveName(directive: string): string {
  const at = directive.indexOf('=');
  return (at === -1 ? directive : directive.slice(0, at)).trim().toLowerCase();
}

/** The lower-case names of the directives in a Cache-Control value. */
export function directiveNames(value: string | undefined): Set<string> {
  const names = new Set<string>();
  for (const directive of splitDirectives(value)) {
    const name = directiveName(directive);
    if (name) names.add(name);
  }
  return names;
}

/**
 * Name → value, names lower case, a quoted-string's quotes and escapes removed (RFC 9110 §5.6.4).
 * A repeated directive keeps its last value (as http-cache-semantics did, the engine before cache/freshness.ts).
 */
export function parseDirectives(value: string | undefined): ReadonlyMap<string, DirectiveValue> {
  if (!value) return NO_DIRECTIVES;
  const out = new Map<string, DirectiveValue>();
  for (const directive of splitDirectives(value)) {
    const name = directiveName(directive);
    if (!name) continue;
    const at = directive.indexOf('=');
    out.set(name, at === -1 ? true : unquote(directive.slice(at + 1).trim()));
  }
  return out;
}

function unquote(raw: string): string {
  const quoted = QUOTED_STRING.exec(raw);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, '$1');
  return raw.replace(/^"|"$/g, ''); // an unbalanced quote: dropped, as before this module
}

const HAS_UPPER_CASE = /[A-Z]/;

/** `No-CaChE, MaX-AgE=60` → `no-cache, max-age=60` (values such as field lists keep their case). */
export function lowerCaseDirectiveNames(value: string): string {
  if (!HAS_UPPER_CASE.test(value)) return value; // the usual case: nothing to rewrite
  return value.replace(/(^|,)(\s*)([^=,\s]+)/g, (_, sep: string, space: string, name: string) => `${sep}${space}${name.toLowerCase()}`);
}

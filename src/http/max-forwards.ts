// Max-Forwards (RFC 9110 §7.6.2): on OPTIONS each intermediary checks and updates it before
// forwarding; at 0 the intermediary does not forward but answers as the final recipient.
// TRACE, the other method it applies to, is refused before the pipeline (server/early-answers.ts);
// on any other method the field is forwarded untouched (the RFC lets a recipient ignore it).

/** The largest count this proxy forwards (the RFC lets a recipient cap it at its maximum). */
const MAX_SUPPORTED = 2 ** 31 - 1;

export type MaxForwards =
  /** Not ours to act on: no field, another method, or a value that is not 1*DIGIT (forwarded as it came). */
  | { kind: 'untouched' }
  /** 0: answer as the final recipient, forward nothing. */
  | { kind: 'answer-here' }
  /** Forward with this value, one less than received. */
  | { kind: 'forward'; value: string };

const UNTOUCHED: MaxForwards = Object.freeze({ kind: 'untouched' });

export function maxForwards(method: string, field: string | string[] | undefined): MaxForwards {
  if (method !== 'OPTIONS' || typeof field !== 'string' || !/^\s*\d+\s*$/.test(field)) return UNTOUCHED;
  const received = Math.min(Number(field), MAX_SUPPORTED);
  if (received === 0) return { kind: 'answer-here' };
  return { kind: 'forward', value: String(received - 1) };
}

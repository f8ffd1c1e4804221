// HTTP-date (RFC 9110 §5.6.7), parsed strictly: IMF-fixdate, and the obsolete RFC 850 and
// asctime forms a recipient must still accept. Anything else is invalid (Date.parse accepts
// "UTC" zones, missing commas, one-digit hours…, which made bad Expires values fresh for years).

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
const MONTH = `(${MONTHS.join('|')})`;
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^(${DAYS.join('|')}), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC_850 = new RegExp(`^(${LONG_DAYS.join('|')}), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^(${DAYS.join('|')}) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

// The last IMF-fixdate parsed and the last time formatted (see parseHttpDate).
const lastParsed = { text: '', ms: NaN };
const lastFormatted = { ms: NaN, text: '' };

/** Milliseconds since the epoch, or NaN when `text` is not an HTTP-date. `now` places RFC 850 years. */
export function parseHttpDate(text: string | undefined, now: number): number {
  if (text === undefined) return NaN;
  // Every response of a second carries the same Date, and an origin's Last-Modified repeats:
  // one remembered IMF-fixdate saves the regex and Date work on most calls (it does not depend
  // on `now`, unlike the RFC 850 form).
  if (text === lastParsed.text) return lastParsed.ms;
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const ms = build(Number(match[4]), match[3]!, match[2]!, match.slice(5, 8));
    lastParsed.text = text;
    lastParsed.ms = ms;
    return ms;
  }
  match = RFC_850.exec(text);
  if (match) return build(fullYear(Number(match[4]), now), match[3]!, match[2]!, match.slice(5, 8));
  match = ASCTIME.exec(text);
  if (match) return build(Number(match[7]), match[2]!, match[3]!.trim(), match.slice(4, 7));
  return NaN;
}

/** The IMF-fixdate form of a time (what Date#toUTCString prints). */
export function formatHttpDate(ms: number): string {
  if (ms !== lastFormatted.ms) {
    lastFormatted.ms = ms;
    lastFormatted.text = new Date(ms).toUTCString();
  }
  return lastFormatted.text;
}

// RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent past
// year with those digits.
function fullYear(twoDigits: number, now: number): number {
  const current = new Date(now).getUTCFullYear();
  let year = Math.floor(current / 100) * 100 + twoDigits;
  if (year > current + 50) year -= 100;
  else if (year <= current - 50) year += 100;
  return year;
}

// The day name must be well-formed but is not checked against the date (as Squid does):
// a sloppy weekday is common and says nothing about the time.
function build(year: number, month: string, day: string, time: string[]): number {
  const [hours, minutes, seconds] = time.map(Number) as [number, number, number];
  if (hours > 23 || minutes > 59 || seconds > 60) return NaN; // 60: a leap second
  const ms = Date.UTC(year, MONTHS.indexOf(month), Number(day), hours, minutes, Math.min(seconds, 59));
  const date = new Date(ms);
  // Day 31 of a 30-day month rolls over in Date.UTC: that is an invalid date, not the next one.
  if (date.getUTCDate() !== Number(day)) return NaN;
  return ms;
}

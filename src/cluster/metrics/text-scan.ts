/**
 * Helpers of the Prometheus text parser (`prometheus-text.ts`) that run once per line or per label, not per
 * character: number and timestamp tokens, label-value unescaping, the duplicate-label check. Allocation-free
 * except where a value is produced.
 *
 * @module
 * @internal
 */

/** ASCII codes these helpers test. */
const QUOTE = 34;
const BACKSLASH = 92;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** Exact powers of ten: 10^k for k ≤ 22 is a double without rounding. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * Text from `start` to `end` with `\\` and `\n` (and `\"` when `quotes`) unescaped; undefined on any other escape
 * in a label value. In HELP text an unknown escape is kept as written, as Prometheus does.
 */
export function unescape(text: string, start: number, end: number, quotes: boolean): string | undefined {
  let out = "";
  let from = start;
  for (let p = start; p < end; p += 1) {
    if (text.charCodeAt(p) !== BACKSLASH) continue;
    const next = p + 1 < end ? text.charCodeAt(p + 1) : -1;
    let rep: string;
    if (next === BACKSLASH) rep = "\\";
    else if (next === 110 /* n */) rep = "\n";
    else if (next === QUOTE && quotes) rep = '"';
    else if (quotes) return undefined;
    else continue;
    out += text.slice(from, p) + rep;
    p += 1;
    from = p + 1;
  }
  return from === start ? text.slice(start, end) : out + text.slice(from, end);
}

/** A sample value token, or undefined when it is not a number. */
export function parseValue(text: string, start: number, end: number): number | undefined {
  const n = end - start;
  if (n <= 0) return undefined;
  const c0 = text.charCodeAt(start);
  if (n <= 4 && (c0 === 78 /* N */ || c0 === 73 /* I */ || ((c0 === PLUS || c0 === MINUS) && n === 4))) {
    if (text.startsWith("NaN", start) && n === 3) return Number.NaN;
    if (text.startsWith("+Inf", start) && n === 4) return Number.POSITIVE_INFINITY;
    if (text.startsWith("-Inf", start) && n === 4) return Number.NEGATIVE_INFINITY;
    if (text.startsWith("Inf", start) && n === 3) return Number.POSITIVE_INFINITY;
  }
  const fast = plainDecimal(text, start, end);
  if (fast !== undefined) return fast;
  for (let p = start; p < end; p += 1) {
    const c = text.charCodeAt(p);
    if (!isDigit(c) && c !== DOT && c !== PLUS && c !== MINUS && c !== 101 /* e */ && c !== 69 /* E */) {
      return undefined;
    }
  }
  const v = Number(text.slice(start, end));
  return Number.isNaN(v) ? undefined : v;
}

/**
 * `[-+]digits[.digits]` with at most 15 digits, without allocating; undefined for anything else (the caller
 * falls back to `Number`). Exact: the digits form an integer below 2^53 and 10^k is exact, so the one division
 * is correctly rounded and equals `Number(token)` (Clinger's fast path).
 */
function plainDecimal(text: string, start: number, end: number): number | undefined {
  let p = start;
  let sign = 1;
  const c0 = text.charCodeAt(p);
  if (c0 === MINUS || c0 === PLUS) {
    sign = c0 === MINUS ? -1 : 1;
    p += 1;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; p < end; p += 1) {
    const c = text.charCodeAt(p);
    if (isDigit(c)) {
      mantissa = mantissa * 10 + (c - 48);
      digits += 1;
      if (fraction >= 0) fraction += 1;
    } else if (c === DOT && fraction < 0) {
      fraction = 0;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || digits > 15) return undefined;
  return (sign * mantissa) / (POW10[fraction > 0 ? fraction : 0] ?? 1);
}

/** An integer millisecond timestamp token, or undefined. */
export function parseTimestamp(text: string, start: number, end: number): number | undefined {
  let p = start;
  if (p < end && text.charCodeAt(p) === MINUS) p += 1;
  if (p >= end) return undefined;
  for (; p < end; p += 1) if (!isDigit(text.charCodeAt(p))) return undefined;
  const v = Number(text.slice(start, end));
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * Label sets up to this many labels are checked for a repeated name by comparing with each earlier one (cheaper than
 * a set for the handful a real sample has); larger ones through a set, so a line of n labels costs O(n), not O(n²):
 * a hostile pod's line of 10⁶ labels took the scrape thread ~25 minutes the quadratic way.
 */
const SMALL_LABEL_SET = 16;

/**
 * True when the last label name pushed onto `out` (name, value pairs) already occurs earlier in it. Call after each
 * push with the same `names`, a set owned by the caller for one label set (filled here once the set is large).
 */
export function hasDuplicateLastName(out: string[], names?: Set<string>): boolean {
  const last = out[out.length - 2] as string;
  if (names === undefined || out.length <= 2 * SMALL_LABEL_SET) {
    for (let i = 0; i < out.length - 2; i += 2) if (out[i] === last) return true;
    return false;
  }
  if (names.size === 0) for (let i = 0; i < out.length - 2; i += 2) names.add(out[i] as string);
  if (names.has(last)) return true;
  names.add(last);
  return false;
}

/** True when the line from `p` (a `#`) to `end` is OpenMetrics' `# EOF`, trailing blanks allowed. */
export function isEof(text: string, p: number, end: number): boolean {
  let e = end;
  while (e > p && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e -= 1;
  return e - p === 5 && text.startsWith("# EOF", p);
}

/** True when `text` holds anything but spaces, tabs and line ends from `from` on. */
export function hasContentFrom(text: string, from: number): boolean {
  for (let p = from; p < text.length; p += 1) {
    const c = text.charCodeAt(p);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return true;
  }
  return false;
}

/**
 * A parser of the Prometheus text exposition format 0.0.4, the format vLLM, SGLang and TensorRT-LLM serve on
 * `/metrics`. It runs once per pod every scrape interval (50 ms by default), so it scans character codes instead of
 * splitting or using regular expressions, allocates only for the samples it keeps, and never throws: a line it
 * cannot read is skipped and counted in {@link Exposition.malformedLines}.
 *
 * Accepted: `# HELP name text` and `# TYPE name type` lines (other `#` lines are comments), blank lines, leading and
 * trailing blanks, `\r\n` line ends, samples `name{label="value",...} value [timestamp]` with metric names matching
 * `[a-zA-Z_:][a-zA-Z0-9_:]*` (vLLM's `vllm:` prefix), an optional trailing comma in the label set, the label value
 * escapes `\\`, `\"` and `\n`, the values `NaN`, `+Inf`, `-Inf`, `Inf` and decimal or exponent notation, and an
 * integer millisecond timestamp. Histogram and summary series (`_bucket`, `_sum`, `_count`, `le`, `quantile`) are
 * ordinary samples keyed by their own sample names.
 *
 * An OpenMetrics `# EOF` line ends the exposition: nothing after it is read, and {@link Exposition.afterEof} says
 * whether anything but blank lines followed (a concatenated or corrupted body).
 *
 * Rejected (counted, skipped): anything else on a line, an unknown escape, an unterminated label value, a duplicate
 * label name, an unknown `# TYPE`, and a second `# TYPE` for one family. Lines that {@link ParseOptions.only}
 * filters out are checked for their name, value and timestamp, and their label set is delimited (quotes and
 * escapes honoured), but label names and escapes inside it are not checked: that is most of the parse time of a
 * vLLM body, spent on histograms nobody reads. With {@link ParseOptions.skim} (the scraper's mode) even that is
 * skipped: see {@link Parser.skimSample}.
 *
 * @module
 */
import {
  hasContentFrom,
  hasDuplicateLastName,
  isEof,
  parseTimestamp,
  parseValue,
  unescape,
} from "./text-scan";
import { DEFAULT_MAX_LINES, DEFAULT_MAX_SAMPLES } from "./exposition";
import type { Exposition, MetricType, ParseOptions, Sample } from "./exposition";
import { NextFinder } from "./next-finder";

export type { Exposition, MetricType, ParseOptions, Sample } from "./exposition";
export { DEFAULT_MAX_LINES, DEFAULT_MAX_SAMPLES, labelValue } from "./exposition";

/** Shared label list of samples without labels (never mutated). */
const NO_LABELS: readonly string[] = Object.freeze([]);

const TYPES: ReadonlySet<string> = new Set<MetricType>([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
]);

/*
 * Character codes and classes stay in this module on purpose: the hot loops below test every character, and an
 * imported binding compiles (tsx, swc) to a getter on the module object, which tripled the parse time.
 */
/** ASCII codes the parser dispatches on. */
const TAB = 9;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const COLON = 58;
const EQUALS = 61;
const UNDERSCORE = 95;
const LBRACE = 123;
const RBRACE = 125;

/** Character classes of ASCII codes, as bit flags (codes ≥ 128 are in no class). */
const NAME_START = 1;
const NAME_CHAR = 2;
const LABEL_START = 4;
const LABEL_CHAR = 8;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const letter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === UNDERSCORE;
  const digit = c >= 48 && c <= 57;
  CLASS[c] =
    (letter || c === COLON ? NAME_START | NAME_CHAR : 0) |
    (digit ? NAME_CHAR | LABEL_CHAR : 0) |
    (letter ? LABEL_START | LABEL_CHAR : 0);
}
const is = (c: number, cls: number): boolean => c < 128 && ((CLASS[c] ?? 0) & cls) !== 0;
/** Character class tests (ASCII only: every non-ASCII code is in no class). */
const isBlank = (c: number): boolean => c === SPACE || c === TAB;
const isLabelStart = (c: number): boolean => is(c, LABEL_START);
const isLabelChar = (c: number): boolean => is(c, LABEL_CHAR);
const isNameStart = (c: number): boolean => is(c, NAME_START);
const isNameChar = (c: number): boolean => is(c, NAME_CHAR);

/** Parse one scrape body. Never throws; see the module comment for what is accepted. */
export function parsePrometheusText(text: string, options: ParseOptions = {}): Exposition {
  return new Parser(text, options).run();
}

/** Names by length (index = length), cached per `only` set: a scrape reuses the catalogue's set every time. */
const lengthTables = new WeakMap<ReadonlySet<string>, readonly (readonly string[] | undefined)[]>();

function namesByLength(only: ReadonlySet<string>): readonly (readonly string[] | undefined)[] {
  let table = lengthTables.get(only);
  if (table === undefined) {
    const t: string[][] = [];
    for (const name of only) (t[name.length] ??= []).push(name);
    table = t;
    lengthTables.set(only, table);
  }
  return table;
}

/** One parse: the cursor state and the output, in monomorphic fields. */
class Parser {
  private readonly samples = new Map<string, Sample[]>();
  private readonly types = new Map<string, MetricType>();
  private readonly help = new Map<string, string>();
  private readonly only: ReadonlySet<string> | undefined;
  private readonly maxSamples: number;
  private readonly maxLines: number;
  private readonly keepHelp: boolean;
  private sampleLines = 0;
  private malformed = 0;
  private truncated = false;
  private afterEof = false;
  /** Consecutive lines usually share a name (histogram buckets): the last name seen and whether it is kept. */
  private lastName = "";
  private lastKeep = false;
  /** Where the last name occurs in `text`: comparing within one flat string is cheap. */
  private lastNameStart = 0;
  /** Next `"`, `\` and `}` positions, for jumping over label values. */
  private readonly quotes: NextFinder;
  private readonly backslashes: NextFinder;
  private readonly braces: NextFinder;
  /** Skim mode: `only`'s names by length, and the next `{`, space and tab, for finding where a name ends. */
  private readonly byLength: readonly (readonly string[] | undefined)[] | undefined;
  private readonly openBraces: NextFinder;
  private readonly spaces: NextFinder;
  private readonly tabs: NextFinder;
  /** Set by `valueEnd`: the value just scanned holds an escape. */
  private escaped = false;

  /** Label names of the label set being read, filled only when it is large (see `hasDuplicateLastName`). */
  private readonly labelNames = new Set<string>();

  constructor(
    private readonly text: string,
    o: ParseOptions,
  ) {
    this.only = o.only;
    this.maxSamples = o.maxSamples ?? DEFAULT_MAX_SAMPLES;
    this.maxLines = o.maxLines ?? DEFAULT_MAX_LINES;
    this.keepHelp = o.help ?? false;
    this.quotes = new NextFinder(text, '"');
    this.backslashes = new NextFinder(text, "\\");
    this.braces = new NextFinder(text, "}");
    this.byLength = o.skim && o.only ? namesByLength(o.only) : undefined;
    this.openBraces = new NextFinder(text, "{");
    this.spaces = new NextFinder(text, " ");
    this.tabs = new NextFinder(text, "\t");
  }

  run(): Exposition {
    const text = this.text;
    const len = text.length;
    let lines = 0;
    let pos = 0;
    while (pos < len) {
      if (lines >= this.maxLines || this.sampleLines >= this.maxSamples) {
        this.truncated = true;
        break;
      }
      lines += 1;
      let eol = text.indexOf("\n", pos);
      if (eol === -1) eol = len;
      let end = eol;
      if (end > pos && text.charCodeAt(end - 1) === CR) end -= 1;
      let p = pos;
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p < end) {
        if (text.charCodeAt(p) === HASH && isEof(text, p, end)) {
          this.afterEof = hasContentFrom(text, eol + 1);
          break;
        }
        const skim = this.byLength !== undefined;
        const ok =
          text.charCodeAt(p) === HASH
            ? skim || this.comment(p + 1, end)
            : skim
              ? this.skimSample(p, end)
              : this.sample(p, end);
        if (!ok) this.malformed += 1;
      }
      pos = eol + 1;
    }
    return {
      samples: this.samples,
      types: this.types,
      help: this.help,
      sampleLines: this.sampleLines,
      malformedLines: this.malformed,
      truncated: this.truncated,
      afterEof: this.afterEof,
    };
  }

  /** A `#` line from `p` (just after the `#`); false when it is a malformed HELP or TYPE line. */
  private comment(p: number, end: number): boolean {
    const text = this.text;
    while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    const isHelp = text.startsWith("HELP", p);
    if (!isHelp && !text.startsWith("TYPE", p)) return true;
    p += 4;
    if (p < end && !isBlank(text.charCodeAt(p))) return true; // e.g. "# HELPFUL": a plain comment
    while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    const nameStart = p;
    if (p >= end || !isNameStart(text.charCodeAt(p))) return false;
    while (p < end && isNameChar(text.charCodeAt(p))) p += 1;
    const nameEnd = p;
    if (p < end && !isBlank(text.charCodeAt(p))) return false;
    while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    if (isHelp) {
      if (!this.keepHelp) return true;
      const doc = unescape(text, p, end, false);
      if (doc === undefined) return false;
      this.help.set(text.slice(nameStart, nameEnd), doc);
      return true;
    }
    let typeEnd = end;
    while (typeEnd > p && isBlank(text.charCodeAt(typeEnd - 1))) typeEnd -= 1;
    const type = text.slice(p, typeEnd);
    if (!TYPES.has(type)) return false;
    const name = text.slice(nameStart, nameEnd);
    if (this.types.has(name)) return false;
    this.types.set(name, type as MetricType);
    return true;
  }

  /**
   * Skim mode's sample line: where the name ends is found with native searches (the first `{`, space or tab), and
   * only a name of the same length as one of `only`'s is compared, and parsed in full when it matches. Any other
   * line counts as a sample line when its name starts with a name character and its last character could end a
   * number (a digit, `NaN`, `Inf`): its name's other characters, label set and value are not read. Per line this
   * is a few native searches instead of a walk over ~120 characters.
   */
  private skimSample(p: number, end: number): boolean {
    const text = this.text;
    if (!isNameStart(text.charCodeAt(p))) return false;
    let nameEnd = this.openBraces.next(p);
    const space = this.spaces.next(p);
    if (space < nameEnd) nameEnd = space;
    const tab = this.tabs.next(p);
    if (tab < nameEnd) nameEnd = tab;
    if (nameEnd >= end) return false; // a name and nothing else
    const candidates = this.byLength?.[nameEnd - p];
    if (candidates !== undefined) {
      // A catalogue name, followed by `{` or a blank: the name is exact (all name characters), parse the rest.
      for (const name of candidates)
        if (text.startsWith(name, p)) return this.afterName(name, true, nameEnd, end);
    }
    let e = end;
    while (e > nameEnd && isBlank(text.charCodeAt(e - 1))) e -= 1;
    const last = text.charCodeAt(e - 1);
    if (!((last >= 48 && last <= 57) || last === 78 /* NaN */ || last === 102 /* Inf */)) return false;
    this.sampleLines += 1;
    return true;
  }

  /** A sample line starting at `p`; false when malformed. */
  private sample(p: number, end: number): boolean {
    const text = this.text;
    const nameStart = p;
    if (!isNameStart(text.charCodeAt(p))) return false;
    // Consecutive lines mostly repeat the last name (histogram buckets): compare while scanning, and slice a new
    // name only when it differs.
    let name = this.lastName;
    const lastStart = this.lastNameStart;
    const lastLen = name.length;
    let same = lastLen > 0;
    for (let i = 0; p < end; i++, p++) {
      const c = text.charCodeAt(p);
      if (!isNameChar(c)) break;
      if (same && (i >= lastLen || c !== text.charCodeAt(lastStart + i))) same = false;
    }
    const nameEnd = p;
    if (!same || nameEnd - nameStart !== lastLen) {
      name = text.slice(nameStart, nameEnd);
      this.lastName = name;
      this.lastKeep = this.only === undefined || this.only.has(name);
    }
    this.lastNameStart = nameStart;
    return this.afterName(name, this.lastKeep, nameEnd, end);
  }

  /** The rest of a sample line whose name `name` ends at `nameEnd`; false when malformed. */
  private afterName(name: string, keep: boolean, nameEnd: number, end: number): boolean {
    const text = this.text;
    let p = nameEnd;
    let labels: readonly string[] = NO_LABELS;
    while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    if (p < end && text.charCodeAt(p) === LBRACE) {
      if (keep) {
        const out: string[] = [];
        p = this.labelSet(p + 1, end, out);
        labels = out;
      } else {
        p = this.skipLabelSet(p + 1, end);
      }
      if (p < 0) return false;
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    } else if (p === nameEnd) {
      return false; // the name runs into something that is neither a blank nor '{' (or the line ends)
    }
    const valueStart = p;
    while (p < end && !isBlank(text.charCodeAt(p))) p += 1;
    const value = parseValue(text, valueStart, p);
    if (value === undefined) return false;
    while (p < end && isBlank(text.charCodeAt(p))) p += 1;
    let timestampMs: number | undefined;
    if (p < end) {
      const tsStart = p;
      while (p < end && !isBlank(text.charCodeAt(p))) p += 1;
      timestampMs = parseTimestamp(text, tsStart, p);
      if (timestampMs === undefined) return false;
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p < end) return false;
    }
    this.sampleLines += 1;
    if (keep) {
      let list = this.samples.get(name);
      if (list === undefined) this.samples.set(name, (list = []));
      list.push({ labels, value, timestampMs });
    }
    return true;
  }

  /**
   * The label set from `p` (just after `{`) to its `}`, checked and pushed into `out` as name, value pairs.
   * Returns the position after `}`, or -1 when malformed.
   */
  private labelSet(p: number, end: number, out: string[]): number {
    const text = this.text;
    const names = this.labelNames;
    names.clear();
    for (;;) {
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p >= end) return -1;
      if (text.charCodeAt(p) === RBRACE) return p + 1;
      const nameStart = p;
      if (!isLabelStart(text.charCodeAt(p))) return -1;
      while (p < end && isLabelChar(text.charCodeAt(p))) p += 1;
      const nameEnd = p;
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p >= end || text.charCodeAt(p) !== EQUALS) return -1;
      p += 1;
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p >= end || text.charCodeAt(p) !== QUOTE) return -1;
      p += 1;
      const valueStart = p;
      p = this.valueEnd(p, end);
      if (p < 0) return -1;
      if (this.escaped) {
        const v = unescape(text, valueStart, p, true);
        if (v === undefined) return -1;
        out.push(text.slice(nameStart, nameEnd), v);
      } else {
        out.push(text.slice(nameStart, nameEnd), text.slice(valueStart, p));
      }
      p += 1; // the closing quote
      while (p < end && isBlank(text.charCodeAt(p))) p += 1;
      if (p >= end) return -1;
      const c = text.charCodeAt(p);
      if (c === COMMA) p += 1;
      else if (c !== RBRACE) return -1;
      if (hasDuplicateLastName(out, names)) return -1;
    }
  }

  /**
   * Skip the label set of a line whose family is filtered out: from `p` (just after `{`) past its `}`, honouring
   * quotes and escapes but not checking label names. Returns the position after `}`, or -1 when unterminated.
   */
  private skipLabelSet(p: number, end: number): number {
    for (;;) {
      const brace = this.braces.next(p);
      const quote = this.quotes.next(p);
      if (brace < quote) return brace < end ? brace + 1 : -1;
      if (quote >= end) return -1;
      const close = this.valueEnd(quote + 1, end);
      if (close < 0) return -1;
      p = close + 1;
    }
  }

  /**
   * The index of the quote closing a label value that starts at `p`, or -1 when it is not closed on this line.
   * Sets `escaped` when the value holds a backslash. Jumps with native `indexOf` instead of stepping.
   */
  private valueEnd(p: number, end: number): number {
    this.escaped = false;
    for (;;) {
      const quote = this.quotes.next(p);
      if (quote >= end) return -1;
      const backslash = this.backslashes.next(p);
      if (backslash >= quote) return quote;
      this.escaped = true;
      p = backslash + 2; // the backslash and the character it escapes
      if (p >= end) return -1;
    }
  }
}

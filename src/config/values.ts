/**
 * The kinds of value a setting can hold (integer in a range, boolean, one of a set, listen address, string), each
 * as a zod schema from the raw text (`string | undefined`, where `undefined` means "not given") to a typed value.
 *
 * A value that does not parse is an issue whose message states the rule and quotes what was given
 * (`must be an integer >= 0, got "abc"`); the loader prefixes it with the setting's flag and env var. Nothing here
 * substitutes the default for a bad value: AIBrix's habit of doing so made 0 impossible to set.
 *
 * @module
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";

/** A setting's raw text: from a flag or an environment variable; `undefined` when neither gave one. */
export type RawValue = string | undefined;

/** A listen address. `host` is `undefined` for `:port`, meaning every interface. */
export interface BindAddress {
  /** Host name or IP to bind (IPv6 without brackets); `undefined` = all interfaces. */
  readonly host: string | undefined;
  /** TCP port, 0..65535 (0 asks the OS for a free port). */
  readonly port: number;
}

/** How one kind of value is parsed and shown in `--help`. */
export interface ValueType<T> {
  /** Raw text → value; a missing raw value becomes the default. */
  readonly schema: z.ZodType<T, RawValue>;
  /** The default as shown in `--help`; `undefined` when the setting has no default. */
  readonly defaultText: string | undefined;
  /** Placeholder for the value in `--help` (`<int>`, `<host:port>`, `A|B`). */
  readonly hint: string;
  /** True for booleans: the flag may stand alone (`--standalone`) and never takes the next argument. */
  readonly isBoolean: boolean;
}

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (problem: string): Parsed<never> => ({ ok: false, problem });

/** Wrap a pure parser as a zod schema over the raw text, reporting a failure as a custom issue. */
function fromParser<T>(parse: (raw: string) => Parsed<T>, fallback: () => T): z.ZodType<T, RawValue> {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T => {
      if (raw === undefined) return fallback();
      const r = parse(raw);
      if (r.ok) return r.value;
      ctx.addIssue({ code: "custom", message: r.problem });
      return z.NEVER;
    });
}

/** Integer range options. */
export interface IntegerOptions {
  readonly min: number;
  readonly max: number;
  /** The value when unset: a number, or computed at load with how the help and chart describe it. */
  readonly default: number | { readonly compute: () => number; readonly text: string };
  /** Human form of the range appended to the error (`1 KiB..512 MiB`). */
  readonly rangeHint?: string;
}

/**
 * A decimal integer in `[min, max]`. Only digits are accepted: no sign, exponent, hex, separators or surrounding
 * space, so `"10ms"`, `"1e3"` and `"-1"` are errors rather than silently truncated.
 */
export function integer(opts: IntegerOptions): ValueType<number> {
  const d = opts.default;
  const range = `>= ${opts.min} and <= ${opts.max}${opts.rangeHint === undefined ? "" : ` (${opts.rangeHint})`}`;
  const parse = (raw: string): Parsed<number> => {
    const n = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < opts.min || n > opts.max) {
      return fail(`must be an integer ${range}, got ${JSON.stringify(raw)}`);
    }
    return ok(n);
  };
  return {
    schema: fromParser(parse, typeof d === "number" ? () => d : d.compute),
    defaultText: typeof d === "number" ? String(d) : d.text,
    hint: "<int>",
    isBoolean: false,
  };
}

/**
 * A non-negative decimal number in `[min, max]` (`2`, `0.5`, `.5`, `1.`), for AIBrix settings its Go code reads
 * with `strconv.ParseFloat`. No sign, exponent or surrounding space, so `"-1"`, `"1e3"` and `"0.5x"` are errors.
 */
export function decimal(opts: IntegerOptions): ValueType<number> {
  const d = opts.default;
  const range = `>= ${opts.min} and <= ${opts.max}${opts.rangeHint === undefined ? "" : ` (${opts.rangeHint})`}`;
  const parse = (raw: string): Parsed<number> => {
    const n = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n) || n < opts.min || n > opts.max) {
      return fail(`must be a number ${range}, got ${JSON.stringify(raw)}`);
    }
    return ok(n);
  };
  return {
    schema: fromParser(parse, typeof d === "number" ? () => d : d.compute),
    defaultText: typeof d === "number" ? String(d) : d.text,
    hint: "<number>",
    isBoolean: false,
  };
}

const TRUE_WORDS = new Set(["true", "1"]);
const FALSE_WORDS = new Set(["false", "0"]);

/** `true`/`false` (also `1`/`0`, any case), as Go's flag package and Kubernetes manifests spell them. */
export function boolean(defaultValue: boolean): ValueType<boolean> {
  const parse = (raw: string): Parsed<boolean> => {
    const word = raw.toLowerCase();
    if (TRUE_WORDS.has(word)) return ok(true);
    if (FALSE_WORDS.has(word)) return ok(false);
    return fail(`must be true or false, got ${JSON.stringify(raw)}`);
  };
  return {
    schema: fromParser(parse, () => defaultValue),
    defaultText: String(defaultValue),
    hint: "",
    isBoolean: true,
  };
}

/** One of a fixed set of words. Matched without regard to case (`info` = `INFO`), returned in canonical spelling. */
export function oneOf<const T extends string>(values: readonly [T, ...T[]], defaultValue: T): ValueType<T> {
  const byLower = new Map(values.map((v) => [v.toLowerCase(), v] as const));
  const parse = (raw: string): Parsed<T> => {
    const v = byLower.get(raw.toLowerCase());
    return v === undefined ? fail(`must be one of ${values.join(", ")}, got ${JSON.stringify(raw)}`) : ok(v);
  };
  return {
    schema: fromParser(parse, () => defaultValue),
    defaultText: defaultValue,
    hint: values.join("|"),
    isBoolean: false,
  };
}

/** Text options. */
export interface TextOptions {
  /** Never echo the value in errors or help (tokens). */
  readonly secret?: boolean;
  /** Placeholder in `--help`; default `<string>`. */
  readonly hint?: string;
}

/** Non-empty text without surrounding whitespace, or `undefined` when not given. */
export function optionalText(opts: TextOptions = {}): ValueType<string | undefined> {
  return { ...textType(opts, () => undefined), defaultText: undefined };
}

/** Non-empty text without surrounding whitespace, with a default (a function: it may be computed at load time). */
export function text(
  defaultValue: () => string,
  defaultText: string,
  opts: TextOptions = {},
): ValueType<string> {
  return { ...textType(opts, defaultValue), defaultText };
}

function textType<T extends string | undefined>(
  opts: TextOptions,
  fallback: () => T,
): Omit<ValueType<string | T>, "defaultText"> {
  const shown = (raw: string): string => (opts.secret === true ? "(value hidden)" : JSON.stringify(raw));
  const parse = (raw: string): Parsed<string> => {
    if (raw.length === 0) return fail("must not be empty");
    // A trailing newline from a Secret created with --from-file is a classic silent mismatch; refuse it loudly.
    if (raw.trim() !== raw) return fail(`must not have leading or trailing whitespace, got ${shown(raw)}`);
    return ok(raw);
  };
  return { schema: fromParser<string | T>(parse, fallback), hint: opts.hint ?? "<string>", isBoolean: false };
}

/** An absolute `http://` or `https://` URL, or `undefined` when not given. */
export function optionalHttpUrl(hint = "<url>"): ValueType<string | undefined> {
  const parse = (raw: string): Parsed<string> => {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || raw.trim() !== raw) {
      return fail(`must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
    }
    return ok(raw);
  };
  return { schema: fromParser(parse, () => undefined), defaultText: undefined, hint, isBoolean: false };
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/**
 * Parse `host:port`, `[ipv6]:port`, `:port` or a bare `port` (the reference picker's `--grpc-port` form, same as
 * `:port`); the port may be 0 (the OS picks one).
 */
function parseBindAddress(raw: string): Parsed<BindAddress> {
  const bad = (why: string): Parsed<never> => fail(`${why}, got ${JSON.stringify(raw)}`);
  const m = /^(?:(?:\[([^\]]*)\]|([^:[\]]*)):)?([0-9]+)$/.exec(raw);
  if (!m) return bad("must be host:port, [ipv6]:port, :port or a bare port");
  const [, v6, plain, portText = ""] = m;
  const port = Number(portText);
  if (!Number.isSafeInteger(port) || port > 65535) return bad("port must be an integer >= 0 and <= 65535");
  if (v6 !== undefined)
    return isIPv6(v6) ? ok({ host: v6, port }) : bad("must have an IPv6 address inside [ ]");
  if (plain === undefined || plain === "") return ok({ host: undefined, port });
  // Dotted digits must be a real IPv4 address; anything else must look like a host name.
  const valid = /^[0-9.]+$/.test(plain) ? isIPv4(plain) : HOST_NAME.test(plain);
  return valid ? ok({ host: plain, port }) : bad("host must be an IPv4 address or a host name");
}

/** A listen address (`host:port`, `[ipv6]:port`, or `:port` for every interface). */
export function bindAddress(defaultText: string): ValueType<BindAddress> {
  const d = parseBindAddress(defaultText);
  if (!d.ok) throw new Error(`bad built-in default ${defaultText}: ${d.problem}`);
  return {
    schema: fromParser(parseBindAddress, () => d.value),
    defaultText,
    hint: "<host:port>",
    isBoolean: false,
  };
}

/** A TCP port 0..65535 (0: the OS picks one), or `undefined` when not given. */
export function optionalPort(): ValueType<number | undefined> {
  const parse = (raw: string): Parsed<number> => {
    const port = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
    return port >= 0 && port <= 65535
      ? ok(port)
      : fail(`must be a port 0..65535, got ${JSON.stringify(raw)}`);
  };
  return {
    schema: fromParser<number | undefined>(parse, () => undefined),
    defaultText: undefined,
    hint: "<port>",
    isBoolean: false,
  };
}

/** Entries {@link namedIntegers} accepts: operator input, but still bounded. */
const MAX_NAMED_INTEGERS = 10_000;

/**
 * `name=N,name=N,…` (an integer per name, in `[min, max]`), or none when not given. A name may hold `=` (the last
 * one separates the number) but not `,`; names are kept as written (no trimming inside an entry) and must be
 * distinct.
 */
export function namedIntegers(opts: {
  readonly min: number;
  readonly max: number;
}): ValueType<readonly (readonly [string, number])[]> {
  const parse = (raw: string): Parsed<readonly (readonly [string, number])[]> => {
    const entries = raw.split(",");
    if (entries.length > MAX_NAMED_INTEGERS) return fail(`must have at most ${MAX_NAMED_INTEGERS} entries`);
    const out: [string, number][] = [];
    const seen = new Set<string>();
    for (const entry of entries) {
      const at = entry.lastIndexOf("=");
      const name = at < 0 ? "" : entry.slice(0, at);
      const text = entry.slice(at + 1);
      const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
      if (name === "" || !Number.isSafeInteger(n) || n < opts.min || n > opts.max)
        return fail(
          `must be name=N entries with N >= ${opts.min} and <= ${opts.max}, got ${JSON.stringify(entry)}`,
        );
      if (seen.has(name)) return fail(`names the same entry twice: ${JSON.stringify(name)}`);
      seen.add(name);
      out.push([name, n]);
    }
    return ok(out);
  };
  return { schema: fromParser(parse, () => []), defaultText: "none", hint: "<name=N,...>", isBoolean: false };
}

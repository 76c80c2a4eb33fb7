/**
 * JSON string literals decoded incrementally, byte chunk by byte chunk, into UTF-8 — exactly the bytes
 * `TextEncoder` would give for the string `JSON.parse` builds: raw bytes are copied (the parser refuses invalid
 * UTF-8, so valid bytes round-trip unchanged), escapes are decoded, a `\uD8xx\uDCxx` pair becomes one 4-byte code
 * point, and a lone surrogate becomes U+FFFD's bytes. State carries over chunk boundaries anywhere, inside an
 * escape included.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes searched one by one for the next quote or backslash before `indexOf` takes over. */
const SHORT_RUN = 32;

// Where the reader is inside a string.
const S_CHARS = 0;
const S_ESCAPE = 1;
const S_HEX = 2;

/** A growable byte buffer, optionally bounded (a byte past `max` is dropped and marks it `overflowed`). */
export class ByteBuffer {
  bytes: Uint8Array;
  length = 0;
  overflowed = false;

  constructor(
    capacity: number,
    readonly max = Number.POSITIVE_INFINITY,
  ) {
    this.bytes = new Uint8Array(capacity);
  }

  clear(): void {
    this.length = 0;
    this.overflowed = false;
  }

  /** The bytes so far (a view). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Room for `n` more bytes (up to `max`). */
  reserve(n: number): void {
    const need = Math.min(this.length + n, this.max);
    if (need <= this.bytes.length) return;
    const next = new Uint8Array(Math.min(Math.max(this.bytes.length * 2, need), this.max));
    next.set(this.view());
    this.bytes = next;
  }

  push(b: number): void {
    if (this.length === this.bytes.length) {
      this.reserve(1);
      if (this.length === this.bytes.length) {
        this.overflowed = true;
        return;
      }
    }
    this.bytes[this.length++] = b;
  }

  append(chunk: Uint8Array, from: number, to: number): void {
    if (this.length + (to - from) > this.max) {
      for (let j = from; j < to; j++) this.push(chunk[j] as number);
      return;
    }
    this.reserve(to - from);
    this.bytes.set(chunk.subarray(from, to), this.length);
    this.length += to - from;
  }
}

/** Reads one string literal at a time (after its opening quote) into a {@link ByteBuffer}, or skips it. */
export class JsonStringReader {
  /** The string's closing quote was read. */
  closed = false;
  /** An escape that is not JSON was read (the body is not JSON). */
  invalid = false;
  private out: ByteBuffer | undefined;
  private sub = S_CHARS;
  private hex = 0;
  private hexDigits = 0;
  /** A high surrogate from a `\u` escape waiting for its low half; -1 when none. */
  private high = -1;
  /** In the chunk being read: the next quote and backslash at or after where they were last looked for. */
  private quoteAt = -1;
  private backslashAt = -1;

  /** A new chunk: positions found in the previous one mean nothing now. */
  newChunk(): void {
    this.quoteAt = -1;
    this.backslashAt = -1;
  }

  /** A string starts (its opening quote was read); its bytes go to `out`, or nowhere. */
  begin(out: ByteBuffer | undefined): void {
    this.out = out;
    this.closed = false;
    this.sub = S_CHARS;
    this.high = -1;
  }

  /** Read from `i`: returns the index after the closing quote (`closed` then set), or the chunk's length. */
  read(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    const out = this.out;
    while (i < n) {
      if (this.sub === S_CHARS) {
        if (out !== undefined && out.max === Number.POSITIVE_INFINITY && this.high < 0) {
          i = this.fast(out, chunk, i);
          if (i === n) return n;
        }
        const j = this.runEnd(chunk, i);
        if (j > i) {
          this.flushHigh();
          out?.append(chunk, i, j);
          i = j;
          if (i === n) return n;
        }
        i++; // a quote or a backslash
        if (chunk[i - 1] === QUOTE) {
          this.flushHigh();
          this.closed = true;
          return i;
        }
        this.sub = S_ESCAPE;
      } else if (this.sub === S_ESCAPE) {
        const c = chunk[i++] as number;
        if (c === 0x75) {
          this.sub = S_HEX;
          this.hex = 0;
          this.hexDigits = 0;
          continue;
        }
        const b = simpleEscape(c);
        if (b < 0) {
          this.invalid = true;
          return n;
        }
        this.flushHigh();
        out?.push(b);
        this.sub = S_CHARS;
      } else {
        const d = hexValue(chunk[i++] as number);
        if (d < 0) {
          this.invalid = true;
          return n;
        }
        this.hex = this.hex * 16 + d;
        if (++this.hexDigits === 4) {
          this.codeUnit(this.hex);
          this.sub = S_CHARS;
        }
      }
    }
    return i;
  }

  /**
   * Plain runs and one-character escapes written straight into an unbounded `out`, its room reserved once for the
   * rest of the chunk (decoding never makes bytes longer). Stops at the closing quote, at a `\u` escape or at an
   * escape cut by the chunk's end, which {@link read} then takes.
   */
  private fast(out: ByteBuffer, chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    out.reserve(n - i);
    const bytes = out.bytes;
    let at = out.length;
    while (i < n) {
      const c = chunk[i] as number;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        const e = i + 1 < n ? simpleEscape(chunk[i + 1] as number) : -1;
        if (e < 0) break;
        bytes[at++] = e;
        i += 2;
        continue;
      }
      const j = this.runEnd(chunk, i);
      if (j - i < SHORT_RUN) {
        while (i < j) bytes[at++] = chunk[i++] as number;
      } else {
        bytes.set(chunk.subarray(i, j), at);
        at += j - i;
        i = j;
      }
    }
    out.length = at;
    return i;
  }

  /** The end of the run of plain bytes from `i`: the next quote or backslash, or the chunk's end. */
  private runEnd(chunk: Uint8Array, i: number): number {
    // Looked for here over a few bytes (runs between escapes are short), then with `indexOf` (native); the next
    // quote and backslash found are kept for the rest of the chunk, so each byte is searched once. Raw control
    // characters are not looked for: a body holding one is refused by the parser, which is all that counts.
    const n = chunk.length;
    let j = i;
    const near = Math.min(n, i + SHORT_RUN);
    while (j < near) {
      const c = chunk[j] as number;
      if (c === QUOTE || c === BACKSLASH) return j;
      j++;
    }
    if (j === n) return n;
    if (this.quoteAt < j) this.quoteAt = indexOrEnd(chunk, QUOTE, j);
    if (this.backslashAt < j) this.backslashAt = indexOrEnd(chunk, BACKSLASH, j);
    return this.quoteAt < this.backslashAt ? this.quoteAt : this.backslashAt;
  }

  /** One UTF-16 code unit from a `\u` escape. */
  private codeUnit(u: number): void {
    if (this.high >= 0) {
      if (u >= 0xdc00 && u <= 0xdfff) {
        this.codePoint(0x10000 + ((this.high - 0xd800) << 10) + (u - 0xdc00));
        this.high = -1;
        return;
      }
      this.flushHigh();
    }
    if (u >= 0xd800 && u <= 0xdbff) this.high = u;
    else if (u >= 0xdc00 && u <= 0xdfff) this.codePoint(0xfffd);
    else this.codePoint(u);
  }

  /** A high surrogate not followed by its low half: `TextEncoder` writes U+FFFD for it. */
  private flushHigh(): void {
    if (this.high < 0) return;
    this.high = -1;
    this.codePoint(0xfffd);
  }

  private codePoint(cp: number): void {
    const out = this.out;
    if (out === undefined) return;
    if (cp < 0x80) {
      out.push(cp);
    } else if (cp < 0x800) {
      out.push(0xc0 | (cp >> 6));
      out.push(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out.push(0xe0 | (cp >> 12));
      out.push(0x80 | ((cp >> 6) & 0x3f));
      out.push(0x80 | (cp & 0x3f));
    } else {
      out.push(0xf0 | (cp >> 18));
      out.push(0x80 | ((cp >> 12) & 0x3f));
      out.push(0x80 | ((cp >> 6) & 0x3f));
      out.push(0x80 | (cp & 0x3f));
    }
  }
}

/** The index of the first `byte` at or after `from`, or the chunk's length. */
function indexOrEnd(chunk: Uint8Array, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at < 0 ? chunk.length : at;
}

/** The byte of a one-character escape (`\n`, `\"`, …), or -1. */
function simpleEscape(c: number): number {
  switch (c) {
    case 0x22:
    case 0x5c:
    case 0x2f:
      return c;
    case 0x62:
      return 0x08;
    case 0x66:
      return 0x0c;
    case 0x6e:
      return 0x0a;
    case 0x72:
      return 0x0d;
    case 0x74:
      return 0x09;
    default:
      return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

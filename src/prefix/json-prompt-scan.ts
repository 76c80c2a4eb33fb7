/**
 * An incremental scanner over the raw JSON bytes of a chat-completions or completions body, fed chunk by chunk,
 * that extracts the routing prompt as the parser would build it — without waiting for the whole body:
 *
 * - chat: every `messages[i].content` string, in order, joined by one space (a `null` or absent content adds no
 *   segment), as UTF-8 bytes;
 * - completions: `prompt` as a string, as an array of strings (joined by one space), or as an array of token ids;
 * - the top-level `model` string.
 *
 * Strings are decoded exactly as `JSON.parse` followed by `TextEncoder` would: raw bytes are copied (the parser
 * refuses invalid UTF-8, so valid bytes round-trip unchanged), escapes are decoded, a `\uD8xx\uDCxx` pair becomes
 * one 4-byte code point, and a lone surrogate becomes U+FFFD's bytes.
 *
 * It follows only the shapes it fully understands. Anything else — content-part arrays, a duplicated `model`,
 * `messages`, `prompt` or `content` key (the parser keeps the last), token ids that are not plain digit runs,
 * nested prompt arrays, deeper nesting than {@link MAX_DEPTH}, bytes that are not JSON — makes it abandon: it then
 * ignores the rest and the caller uses the ordinary path. For a body that is not valid JSON its output is
 * meaningless, but then the parser refuses the body and the output is never used.
 *
 * Linear in the body: each byte is looked at once; the prompt is kept once (it becomes the token ids).
 *
 * @module
 */

/** Which endpoint's prompt to extract. */
export type PromptShape = "chat" | "completions";

/** Containers nested deeper than this make the scanner abandon (it keeps one stack entry per level). */
export const MAX_DEPTH = 256;
/** A `model` longer than this (bytes) makes the scanner abandon. */
const MAX_MODEL_BYTES = 4096;
/** Longest key kept for comparison; our keys are shorter, a longer key is simply "another key". */
const MAX_KEY_BYTES = 16;
/** Bytes of a string searched byte by byte for its next quote or backslash before `indexOf` takes over. */
const SHORT_RUN = 32;
/** Token-id digits beyond this make the scanner abandon (15 digits stay exact in a double). */
const MAX_ID_DIGITS = 15;

// What the scanner expects next (outside strings, numbers and literals).
const M_VALUE = 0;
const M_VALUE_OR_END = 1; // after `[`
const M_KEY_OR_END = 2; // after `{`
const M_KEY = 3; // after `,` in an object
const M_COLON = 4;
const M_COMMA_OR_END = 5;
const M_STRING = 6;
const M_NUMBER = 7;
const M_LITERAL = 8;
const M_DONE = 9; // the top-level object closed
const M_ABANDONED = 10;

// Container roles (the low bits of a stack entry).
const OBJECT = 8;
const ROLE = 7;
const R_ROOT = 0;
const R_MESSAGES = 1;
const R_MESSAGE = 2;
const R_PROMPT_ARRAY = 3;
const R_OTHER = 4;

// The role of the value about to start.
const V_TOP = 0;
const V_MODEL = 1;
const V_MESSAGES = 2;
const V_PROMPT = 3;
const V_MESSAGE = 4;
const V_CONTENT = 5;
const V_PROMPT_ITEM = 6;
const V_SKIP = 7;

// Where a string's decoded bytes go.
const T_SKIP = 0;
const T_KEY = 1;
const T_MODEL = 2;
const T_PROMPT = 3;

// String sub-states.
const S_CHARS = 0;
const S_ESCAPE = 1;
const S_HEX = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

const KEY_MODEL = [...Buffer.from("model")];
const KEY_MESSAGES = [...Buffer.from("messages")];
const KEY_PROMPT = [...Buffer.from("prompt")];
const KEY_CONTENT = [...Buffer.from("content")];

/** The scanner's view of one body. Feed chunks in order with {@link push}; read the results after {@link done}. */
export class PromptScanner {
  /** The prompt's UTF-8 bytes (text prompts): `text.subarray(0, length)`. */
  text = new Uint8Array(1024);
  /** The token ids (a token-id prompt): `ids.subarray(0, length)`. */
  ids = new Uint32Array(0);
  /** Bytes (text) or ids so far. */
  length = 0;
  /** What the prompt is, once its first value started. */
  kind: "text" | "ids" | undefined;
  /** The top-level `model`, once its string closed. */
  model: string | undefined;

  private mode = M_VALUE;
  /** One entry per open container: its role, plus {@link OBJECT} for an object. */
  private readonly stack: number[] = [];
  private value = V_TOP;
  // Strings.
  private target = T_SKIP;
  private sub = S_CHARS;
  private hex = 0;
  private hexDigits = 0;
  /** In the chunk being read: the next quote and backslash at or after where they were last looked for. */
  private quoteAt = -1;
  private backslashAt = -1;
  /** A high surrogate from a `\u` escape waiting for its low half; -1 when none. */
  private high = -1;
  private key: number[] = [];
  private modelBytes: number[] = [];
  // Numbers and literals.
  private number = 0;
  private digits = 0;
  private literalNull = false;
  // Bookkeeping.
  private segments = 0;
  private seenModel = false;
  private seenPrompt = false;
  private seenContent = false;
  private arrayKind: "text" | "ids" | undefined;

  constructor(private readonly shape: PromptShape) {}

  /** Whether the scanner gave up on this body. */
  get abandoned(): boolean {
    return this.mode === M_ABANDONED;
  }

  /** Whether the whole top-level object was read and held the prompt and the model. */
  get done(): boolean {
    return this.mode === M_DONE && this.seenPrompt && this.model !== undefined;
  }

  /** Give up: nothing more is read. */
  abandon(): void {
    this.mode = M_ABANDONED;
    this.text = new Uint8Array(0);
    this.ids = new Uint32Array(0);
  }

  /** Read the next chunk of the body. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    this.quoteAt = -1;
    this.backslashAt = -1;
    while (i < n) {
      const mode = this.mode;
      if (mode === M_ABANDONED) return;
      if (mode === M_STRING) {
        i = this.string(chunk, i);
        continue;
      }
      const c = chunk[i] as number;
      if (mode === M_NUMBER) {
        if (this.numberByte(c)) i++;
        continue;
      }
      if (mode === M_LITERAL) {
        if (c >= 0x61 && c <= 0x7a) i++;
        else this.closeValue();
        continue;
      }
      i++;
      if (isWhitespace(c)) continue;
      switch (mode) {
        case M_VALUE:
          this.startValue(c);
          break;
        case M_VALUE_OR_END:
          if (c === 0x5d) this.closeContainer();
          else this.startValue(c);
          break;
        case M_KEY_OR_END:
          if (c === 0x7d) this.closeContainer();
          else this.startKey(c);
          break;
        case M_KEY:
          this.startKey(c);
          break;
        case M_COLON:
          if (c === 0x3a) this.mode = M_VALUE;
          else this.abandon();
          break;
        case M_COMMA_OR_END:
          this.afterValue(c);
          break;
        default: // M_DONE: only whitespace may follow
          this.abandon();
      }
    }
  }

  private startKey(c: number): void {
    if (c !== QUOTE) return this.abandon();
    this.key.length = 0;
    this.openString(T_KEY);
  }

  /** A key closed: what its value is to the prompt. */
  private keyDone(): void {
    const role = this.top() & ROLE;
    const k = this.key;
    this.mode = M_COLON;
    this.value = V_SKIP;
    if (role === R_ROOT) {
      if (same(k, KEY_MODEL)) {
        if (this.seenModel) return this.abandon();
        this.seenModel = true;
        this.value = V_MODEL;
      } else if (same(k, this.shape === "chat" ? KEY_MESSAGES : KEY_PROMPT)) {
        if (this.seenPrompt) return this.abandon();
        this.seenPrompt = true;
        this.value = this.shape === "chat" ? V_MESSAGES : V_PROMPT;
      }
    } else if (role === R_MESSAGE && same(k, KEY_CONTENT)) {
      if (this.seenContent) return this.abandon();
      this.seenContent = true;
      this.value = V_CONTENT;
    }
  }

  private startValue(c: number): void {
    const v = this.value;
    if (c === 0x7b) {
      if (v === V_TOP) return this.openContainer(R_ROOT, true);
      if (v === V_MESSAGE) {
        this.seenContent = false;
        return this.openContainer(R_MESSAGE, true);
      }
      return v === V_SKIP ? this.openContainer(R_OTHER, true) : this.abandon();
    }
    if (c === 0x5b) {
      if (v === V_MESSAGES) return this.openContainer(R_MESSAGES, false);
      if (v === V_PROMPT) {
        this.arrayKind = undefined;
        return this.openContainer(R_PROMPT_ARRAY, false);
      }
      return v === V_SKIP ? this.openContainer(R_OTHER, false) : this.abandon();
    }
    if (c === QUOTE) {
      if (v === V_SKIP) return this.openString(T_SKIP);
      if (v === V_MODEL) {
        this.modelBytes.length = 0;
        return this.openString(T_MODEL);
      }
      if (v === V_CONTENT || v === V_PROMPT || v === V_PROMPT_ITEM) {
        if (!this.promptKind("text", v === V_PROMPT_ITEM)) return;
        this.openString(T_PROMPT);
        if (this.segments++ > 0) this.emit(0x20);
        return;
      }
      return this.abandon();
    }
    if (isDigit(c)) {
      if (v === V_PROMPT_ITEM) {
        if (!this.promptKind("ids", true)) return;
        this.number = c - 0x30;
        this.digits = 1;
      } else if (v !== V_SKIP) {
        return this.abandon();
      }
      this.mode = M_NUMBER;
      return;
    }
    if (c === 0x2d && v === V_SKIP) {
      this.mode = M_NUMBER;
      return;
    }
    if (c >= 0x61 && c <= 0x7a && (v === V_SKIP || (v === V_CONTENT && c === 0x6e))) {
      // In valid JSON a literal starting with `n` is `null`: a null content adds no segment.
      this.literalNull = c === 0x6e;
      this.mode = M_LITERAL;
      return;
    }
    this.abandon();
  }

  /** The prompt's kind is set by its first value; an array of mixed kinds (or a nested one) is not followed. */
  private promptKind(kind: "text" | "ids", item: boolean): boolean {
    if (item) {
      if (this.arrayKind !== undefined && this.arrayKind !== kind) {
        this.abandon();
        return false;
      }
      this.arrayKind = kind;
    }
    if (this.kind !== undefined && this.kind !== kind) {
      this.abandon();
      return false;
    }
    this.kind = kind;
    return true;
  }

  private top(): number {
    return this.stack[this.stack.length - 1] ?? 0;
  }

  private openContainer(role: number, object: boolean): void {
    if (this.stack.length >= MAX_DEPTH) return this.abandon();
    this.stack.push(object ? role | OBJECT : role);
    this.mode = object ? M_KEY_OR_END : M_VALUE_OR_END;
    this.value = this.itemRole();
  }

  /** The role of an array's items (objects set it per key). */
  private itemRole(): number {
    const role = this.top() & ROLE;
    return role === R_MESSAGES ? V_MESSAGE : role === R_PROMPT_ARRAY ? V_PROMPT_ITEM : V_SKIP;
  }

  private closeContainer(): void {
    this.stack.pop();
    this.closeValue();
  }

  /** A value ended: a comma or the container's end comes next (or nothing, after the top-level object). */
  private closeValue(): void {
    if (this.mode === M_NUMBER && this.value === V_PROMPT_ITEM) this.pushId(this.number);
    this.mode = this.stack.length === 0 ? M_DONE : M_COMMA_OR_END;
  }

  private afterValue(c: number): void {
    const object = (this.top() & OBJECT) !== 0;
    if (c === 0x2c) {
      if (object) {
        this.mode = M_KEY;
      } else {
        this.mode = M_VALUE;
        this.value = this.itemRole();
      }
    } else if (c === (object ? 0x7d : 0x5d)) {
      this.closeContainer();
    } else {
      this.abandon();
    }
  }

  private numberByte(c: number): boolean {
    if (this.value !== V_PROMPT_ITEM) {
      // Skipped numbers: any of the bytes a JSON number may hold.
      if (isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) return true;
      this.closeValue();
      return false;
    }
    if (isDigit(c)) {
      if (++this.digits > MAX_ID_DIGITS) this.abandon();
      else this.number = this.number * 10 + (c - 0x30);
      return true;
    }
    // A fraction, an exponent: the parser may still read an integer, but this scanner does not follow.
    if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) {
      this.abandon();
      return false;
    }
    this.closeValue();
    return false;
  }

  private pushId(id: number): void {
    if (this.length === this.ids.length) {
      const next = new Uint32Array(Math.max(1024, this.ids.length * 2));
      next.set(this.ids);
      this.ids = next;
    }
    // As `Uint32Array.from` stores a number: modulo 2^32 (exact for integers below 2^53).
    this.ids[this.length++] = id >>> 0;
  }

  private openString(target: number): void {
    this.mode = M_STRING;
    this.target = target;
    this.sub = S_CHARS;
    this.high = -1;
  }

  /** The end of the run of plain bytes from `i` (the next quote or backslash, or the chunk's end). */
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

  /**
   * The prompt's own strings, fast: plain runs and one-character escapes written straight into `text`, whose room
   * is reserved once for the rest of the chunk (decoding never makes bytes longer). Stops at the string's end, at a
   * `\u` escape or at an escape cut by the chunk's end, which {@link string} then takes.
   */
  private promptBytes(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    if (this.length + (n - i) > this.text.length) this.growText(n - i);
    const text = this.text;
    let at = this.length;
    while (i < n) {
      const c = chunk[i] as number;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        const e = i + 1 < n ? simpleEscape(chunk[i + 1] as number) : -1;
        if (e < 0) break;
        text[at++] = e;
        i += 2;
        continue;
      }
      const j = this.runEnd(chunk, i);
      if (j - i < SHORT_RUN) {
        while (i < j) text[at++] = chunk[i++] as number;
      } else {
        text.set(chunk.subarray(i, j), at);
        at += j - i;
        i = j;
      }
    }
    this.length = at;
    return i;
  }

  /** Read string bytes from `i`; returns where it stopped (the string ended, or the chunk did). */
  private string(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    while (i < n) {
      if (this.mode === M_ABANDONED) return n;
      if (this.target === T_PROMPT && this.sub === S_CHARS && this.high < 0) {
        i = this.promptBytes(chunk, i);
        if (i === n) return n;
      }
      if (this.sub === S_CHARS) {
        const j = this.runEnd(chunk, i);
        if (j > i) {
          this.flushHigh();
          this.emitRun(chunk, i, j);
          i = j;
          if (i === n) return i;
        }
        const c = chunk[i++] as number;
        if (c === QUOTE) {
          this.flushHigh();
          this.stringDone();
          return i;
        }
        // A backslash. The common one-character escapes are decoded here, without a state change.
        const e = i < n ? simpleEscape(chunk[i] as number) : -1;
        if (e >= 0) {
          i++;
          this.flushHigh();
          this.emit(e);
          continue;
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
          this.abandon();
          return n;
        }
        this.flushHigh();
        this.emit(b);
        this.sub = S_CHARS;
      } else {
        const d = hexValue(chunk[i++] as number);
        if (d < 0) {
          this.abandon();
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

  /** One UTF-16 code unit from a `\u` escape. */
  private codeUnit(u: number): void {
    if (this.high >= 0) {
      if (u >= 0xdc00 && u <= 0xdfff) {
        this.emitCodePoint(0x10000 + ((this.high - 0xd800) << 10) + (u - 0xdc00));
        this.high = -1;
        return;
      }
      this.flushHigh();
    }
    if (u >= 0xd800 && u <= 0xdbff) this.high = u;
    else if (u >= 0xdc00 && u <= 0xdfff) this.emitCodePoint(0xfffd);
    else this.emitCodePoint(u);
  }

  /** A high surrogate not followed by its low half: `TextEncoder` writes U+FFFD for it. */
  private flushHigh(): void {
    if (this.high < 0) return;
    this.high = -1;
    this.emitCodePoint(0xfffd);
  }

  private emitCodePoint(cp: number): void {
    if (cp < 0x80) {
      this.emit(cp);
    } else if (cp < 0x800) {
      this.emit(0xc0 | (cp >> 6));
      this.emit(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      this.emit(0xe0 | (cp >> 12));
      this.emit(0x80 | ((cp >> 6) & 0x3f));
      this.emit(0x80 | (cp & 0x3f));
    } else {
      this.emit(0xf0 | (cp >> 18));
      this.emit(0x80 | ((cp >> 12) & 0x3f));
      this.emit(0x80 | ((cp >> 6) & 0x3f));
      this.emit(0x80 | (cp & 0x3f));
    }
  }

  private emit(b: number): void {
    switch (this.target) {
      case T_PROMPT:
        if (this.length === this.text.length) this.growText(1);
        this.text[this.length++] = b;
        return;
      case T_KEY:
        if (this.key.length <= MAX_KEY_BYTES) this.key.push(b);
        return;
      case T_MODEL:
        if (this.modelBytes.length >= MAX_MODEL_BYTES) return this.abandon();
        this.modelBytes.push(b);
        return;
      default:
    }
  }

  private emitRun(chunk: Uint8Array, from: number, to: number): void {
    if (this.target === T_PROMPT) {
      const need = to - from;
      if (this.length + need > this.text.length) this.growText(need);
      this.text.set(chunk.subarray(from, to), this.length);
      this.length += need;
    } else if (this.target !== T_SKIP) {
      for (let j = from; j < to && this.mode !== M_ABANDONED; j++) this.emit(chunk[j] as number);
    }
  }

  private growText(need: number): void {
    const next = new Uint8Array(Math.max(this.text.length * 2, this.length + need));
    next.set(this.text.subarray(0, this.length));
    this.text = next;
  }

  private stringDone(): void {
    if (this.mode === M_ABANDONED) return;
    if (this.target === T_KEY) return this.keyDone();
    if (this.target === T_MODEL) {
      // Not fatal: a lone surrogate (U+FFFD here, kept by the parser) then differs from the parsed model.
      this.model = new TextDecoder().decode(Uint8Array.from(this.modelBytes));
    }
    this.closeValue();
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

function same(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

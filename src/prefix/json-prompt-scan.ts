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

import { ByteBuffer, JsonStringReader } from "./json-string";

/** Which endpoint's prompt to extract. */
export type PromptShape = "chat" | "completions";

/** Containers nested deeper than this make the scanner abandon (it keeps one stack entry per level). */
export const MAX_DEPTH = 256;
/** A `model` longer than this (bytes) makes the scanner abandon. */
const MAX_MODEL_BYTES = 4096;
/** Longest key kept for comparison; our keys are shorter, a longer key is simply "another key". */
const MAX_KEY_BYTES = 16;
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

const QUOTE = 0x22;
const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

const KEY_MODEL = new TextEncoder().encode("model");
const KEY_MESSAGES = new TextEncoder().encode("messages");
const KEY_PROMPT = new TextEncoder().encode("prompt");
const KEY_CONTENT = new TextEncoder().encode("content");

/** The scanner's view of one body. Feed chunks in order with {@link push}; read the results after {@link done}. */
export class PromptScanner {
  /** What the prompt is, once its first value started. */
  kind: "text" | "ids" | undefined;
  /** The top-level `model`, once its string closed. */
  model: string | undefined;

  private mode = M_VALUE;
  /** One entry per open container: its role, plus {@link OBJECT} for an object. */
  private readonly stack: number[] = [];
  private value = V_TOP;
  /** The token ids (a token-id prompt), `idCount` of them. */
  private ids = new Uint32Array(0);
  private idCount = 0;
  // Strings.
  private target = T_SKIP;
  private readonly str = new JsonStringReader();
  /** The prompt's UTF-8 bytes (a text prompt). */
  private prompt = new ByteBuffer(1024);
  /** The key being read (only as long as the longest key looked for, plus one: a longer one matches none). */
  private readonly key = new ByteBuffer(MAX_KEY_BYTES + 1, MAX_KEY_BYTES + 1);
  private readonly modelBytes = new ByteBuffer(64, MAX_MODEL_BYTES);
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

  /** The prompt so far: its UTF-8 bytes (text), or its ids (a view each; valid until the next `push`). */
  tokens(): Uint8Array | Uint32Array {
    return this.kind === "ids" ? this.ids.subarray(0, this.idCount) : this.prompt.view();
  }

  /** Give up: nothing more is read, and what was kept is let go. */
  abandon(): void {
    this.mode = M_ABANDONED;
    this.prompt = new ByteBuffer(0);
    this.ids = new Uint32Array(0);
    this.idCount = 0;
  }

  /** Read the next chunk of the body. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    this.str.newChunk();
    while (i < n) {
      const mode = this.mode;
      if (mode === M_ABANDONED) return;
      if (mode === M_STRING) {
        i = this.str.read(chunk, i);
        if (this.str.invalid) this.abandon();
        else if (this.str.closed) this.stringDone();
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
    this.key.clear();
    this.openString(T_KEY);
  }

  /** A key closed: what its value is to the prompt. */
  private keyDone(): void {
    const role = this.top() & ROLE;
    const k = this.key.view();
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
        this.modelBytes.clear();
        return this.openString(T_MODEL);
      }
      if (v === V_CONTENT || v === V_PROMPT || v === V_PROMPT_ITEM) {
        if (!this.promptKind("text", v === V_PROMPT_ITEM)) return;
        if (this.segments++ > 0) this.prompt.push(0x20);
        return this.openString(T_PROMPT);
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
    if (this.idCount === this.ids.length) {
      const next = new Uint32Array(Math.max(1024, this.ids.length * 2));
      next.set(this.ids);
      this.ids = next;
    }
    // As `Uint32Array.from` stores a number: modulo 2^32 (exact for integers below 2^53).
    this.ids[this.idCount++] = id >>> 0;
  }

  private openString(target: number): void {
    this.mode = M_STRING;
    this.target = target;
    this.str.begin(
      target === T_PROMPT
        ? this.prompt
        : target === T_KEY
          ? this.key
          : target === T_MODEL
            ? this.modelBytes
            : undefined,
    );
  }

  private stringDone(): void {
    if (this.target === T_KEY) return this.keyDone();
    if (this.target === T_MODEL) {
      if (this.modelBytes.overflowed) return this.abandon();
      // Not fatal: a lone surrogate (U+FFFD here, kept by the parser) then differs from the parsed model.
      this.model = new TextDecoder().decode(this.modelBytes.view());
    }
    this.closeValue();
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

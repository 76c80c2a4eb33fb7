/**
 * An incremental reader of one HTTP/1.1 response, fed the raw bytes of a socket: status line and headers, then a
 * body framed by `content-length`, by `transfer-encoding: chunked`, or by the end of the connection. Only what a
 * metrics scrape needs: the status, the framing, whether the connection may be reused, and the body's bytes.
 *
 * Why by hand: Node's `http.request` costs ~100 µs of CPU per 40 KB scrape (a `ClientRequest`, an
 * `IncomingMessage` stream, the agent's bookkeeping, per-chunk stream events); at 100 pods every 50 ms that
 * alone was a quarter of a core. This reader copies each body byte once, into a {@link BodyStore} that the
 * connection reuses from one response to the next, so a scrape allocates no buffer once the store has grown.
 *
 * Bytes fed are not kept: the caller may reuse the buffer they were read into as soon as `feed` returns.
 *
 * Bounds: the head may be at most {@link MAX_HEAD_BYTES}; a chunk-size line at most {@link MAX_CHUNK_LINE}; the
 * body at most the caller's limit (announced or received). Anything that is not HTTP/1.x is an error whose
 * message starts with `HPE_`, as Node's parser names them, so the scraper maps it to `http-error`.
 *
 * @module
 */

/** Most bytes of status line and headers (Node's default header limit is 16 KiB). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Body bytes a store may be sized for beyond twice those received, on an announcement (one socket read). */
const READ_AHEAD_BYTES = 64 * 1024;
/** Most bytes of one chunk-size line, extensions included. */
const MAX_CHUNK_LINE = 1024;

const CR = 13;
const LF = 10;
const SPACE = 32;

/** The headers this reader acts on; every other header is skipped unread. */
const OTHER = 0;
const CONTENT_LENGTH = 1;
const TRANSFER_ENCODING = 2;
const CONNECTION = 3;
const HEADERS: readonly (readonly [string, number])[] = [
  ["content-length", CONTENT_LENGTH],
  ["transfer-encoding", TRANSFER_ENCODING],
  ["connection", CONNECTION],
];

/** Which of {@link HEADERS} the name from `start` to `end` is (ASCII case-insensitive, no blanks allowed). */
function headerOf(text: string, start: number, end: number): number {
  for (const [name, id] of HEADERS) {
    if (end - start !== name.length) continue;
    let i = 0;
    // `| 32` folds ASCII upper case onto lower case (and leaves '-' alone).
    while (i < name.length && (text.charCodeAt(start + i) | 32) === name.charCodeAt(i)) i += 1;
    if (i === name.length) return id;
  }
  return OTHER;
}

/** The three-digit number at `p`, or -1. */
function threeDigits(text: string, p: number): number {
  let n = 0;
  for (let i = p; i < p + 3; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}
const HTTP_PREFIX = Buffer.from("HTTP/1.");

/** Where a connection's response bodies are copied; grows as needed (up to the body limit), reused. */
export interface BodyStore {
  buf: Buffer;
}

/** A fresh, empty {@link BodyStore}. */
export function bodyStore(): BodyStore {
  return { buf: Buffer.alloc(0) };
}

/** What feeding bytes produced. */
export type FeedResult =
  /** More bytes are needed. */
  | { readonly t: "more" }
  /**
   * The response is complete: `body` (2xx only; empty otherwise), and whether the socket may carry another.
   * `body` is a view of the {@link BodyStore} or of the bytes just fed: read it before `feed` is called again or
   * the fed buffer is reused.
   */
  | { readonly t: "done"; readonly status: number; readonly body: Buffer; readonly reusable: boolean }
  | { readonly t: "error"; readonly code: string }
  | { readonly t: "too-large"; readonly bytes: number };

const MORE: FeedResult = Object.freeze({ t: "more" });

type Framing = "length" | "chunked" | "close";
type ChunkState = "size" | "data" | "data-crlf" | "trailers";

/** One response being read. Feed it every byte received, in order; then `end()` if the connection closes. */
export class ResponseReader {
  private head: Buffer | undefined;
  private headDone = false;
  private status = 0;
  private framing: Framing = "close";
  private keepAlive = true;
  /** Body bytes still expected (`length`), or left in the current chunk (`chunked`). */
  private remaining = 0;
  private chunkState: ChunkState = "size";
  private line: Buffer | undefined;
  private bodyBytes = 0;
  /** Bytes of `store.buf` that hold this response's (2xx) body. */
  private kept = 0;
  /** The body so far when it is one piece of the bytes being fed (not yet copied). */
  private view: Buffer | undefined;
  private finished = false;

  constructor(
    private readonly maxBodyBytes: number,
    private readonly store: BodyStore = bodyStore(),
  ) {}

  /** Whether any byte of a response has arrived. */
  started(): boolean {
    return this.head !== undefined || this.headDone;
  }

  /** Feed the next bytes. After a result other than `more`, the reader is finished and takes no more. */
  feed(chunk: Buffer): FeedResult {
    const r = this.read(chunk);
    // Body bytes still only viewed in `chunk` must be copied before the caller reuses it.
    if (r.t === "more" && this.view) this.keepView();
    return r;
  }

  private read(chunk: Buffer): FeedResult {
    if (this.finished) return { t: "error", code: "HPE_DATA_AFTER_RESPONSE" };
    let data = chunk;
    if (!this.headDone) {
      const r = this.readHead(data);
      if (typeof r !== "number") return this.finish(r);
      data = data.subarray(r);
      if (!this.headDone) return MORE;
      if (this.framing === "length" && this.remaining === 0) return this.complete(data.length === 0);
    }
    if (data.length === 0) return MORE;
    return this.framing === "chunked" ? this.chunked(data) : this.plain(data);
  }

  /** The connection closed: the response is complete only when it was framed by the close. */
  end(): FeedResult {
    if (this.finished) return { t: "error", code: "HPE_DATA_AFTER_RESPONSE" };
    if (this.headDone && this.framing === "close") {
      this.keepAlive = false;
      return this.complete(true);
    }
    return this.finish({ t: "error", code: "ECONNRESET" });
  }

  /**
   * Reads head bytes; returns how many of `data` it consumed, or an error. Interim (1xx) responses are skipped in a
   * loop, not by recursion: a read full of them must not cost a stack frame each.
   */
  private readHead(data: Buffer): number | FeedResult {
    let used = 0;
    for (;;) {
      const r = this.readOneHead(data.subarray(used));
      if (typeof r !== "number") return r;
      used += r;
      if (this.headDone || used === data.length || this.head !== undefined) return used;
    }
  }

  /** Reads one head (or skips one interim response); returns how many of `data` it consumed, or an error. */
  private readOneHead(data: Buffer): number | FeedResult {
    const prev = this.head;
    const buf = prev ? Buffer.concat([prev, data]) : data;
    // Reject what is not HTTP as soon as its first bytes show it (an SSH banner, a TLS alert).
    const n = Math.min(buf.length, HTTP_PREFIX.length);
    if (buf.compare(HTTP_PREFIX, 0, n, 0, n) !== 0) return { t: "error", code: "HPE_INVALID_CONSTANT" };
    const end = buf.indexOf("\r\n\r\n", prev ? Math.max(0, prev.length - 3) : 0, "latin1");
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) return { t: "error", code: "HPE_HEADER_OVERFLOW" };
      this.head = buf === data ? Buffer.from(data) : buf; // `data` may be overwritten after this call
      return data.length;
    }
    // The bound holds however the head arrived, in pieces or whole in one read.
    if (end + 4 > MAX_HEAD_BYTES) return { t: "error", code: "HPE_HEADER_OVERFLOW" };
    const used = end + 4 - (prev ? prev.length : 0);
    this.head = undefined;
    const bad = this.parseHead(buf.toString("latin1", 0, end));
    if (bad !== undefined) return bad;
    if (this.status >= 100 && this.status < 200) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      this.status = 0;
      this.framing = "close";
      this.keepAlive = true;
      return used;
    }
    this.headDone = true;
    return used;
  }

  /**
   * Status line and headers: undefined when readable, else the error (or an announced body over the limit).
   * Scanned with `indexOf` and character codes, not split and matched: this runs on every scrape.
   */
  private parseHead(text: string): FeedResult | undefined {
    const error = (code: string): FeedResult => ({ t: "error", code });
    // "HTTP/1.x NNN" then a space or the end of the line; the prefix was checked on the bytes.
    const minor = text.charCodeAt(7);
    if ((minor !== 48 && minor !== 49) || text.charCodeAt(8) !== SPACE) return error("HPE_INVALID_CONSTANT");
    const status = threeDigits(text, 9);
    const after = text.charCodeAt(12);
    if (status < 0 || !(Number.isNaN(after) || after === SPACE || after === CR))
      return error("HPE_INVALID_STATUS");
    this.status = status;
    if (minor === 48) this.keepAlive = false;
    let length: number | undefined;
    let chunked = false;
    let eol = text.indexOf("\r\n", 12);
    while (eol !== -1) {
      const start = eol + 2;
      eol = text.indexOf("\r\n", start);
      const end = eol === -1 ? text.length : eol;
      const colon = text.indexOf(":", start);
      if (colon <= start || colon >= end) return error("HPE_INVALID_HEADER_TOKEN");
      const header = headerOf(text, start, colon);
      if (header === OTHER) continue;
      const value = text.slice(colon + 1, end).trim();
      if (header === CONTENT_LENGTH) {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value)))
          return error("HPE_INVALID_CONTENT_LENGTH");
        length = Number(value);
      } else if (header === TRANSFER_ENCODING) {
        const codings = value.toLowerCase().split(",");
        if (codings[codings.length - 1]?.trim() !== "chunked") return error("HPE_INVALID_TRANSFER_ENCODING");
        chunked = true;
      } else {
        const tokens = value
          .toLowerCase()
          .split(",")
          .map((t) => t.trim());
        if (tokens.includes("close")) this.keepAlive = false;
        else if (tokens.includes("keep-alive") && minor === 48) this.keepAlive = true;
      }
    }
    if (chunked && length !== undefined) return error("HPE_UNEXPECTED_CONTENT_LENGTH");
    if (status === 204 || status === 304) {
      this.framing = "length";
      this.remaining = 0;
    } else if (chunked) {
      this.framing = "chunked";
    } else if (length !== undefined) {
      if (length > this.maxBodyBytes) return { t: "too-large", bytes: length };
      this.framing = "length";
      this.remaining = length;
    } else {
      this.framing = "close";
      this.keepAlive = false;
    }
    return undefined;
  }

  private plain(data: Buffer): FeedResult {
    if (this.framing === "length") {
      if (data.length > this.remaining) return this.finish({ t: "error", code: "HPE_DATA_AFTER_RESPONSE" });
      this.remaining -= data.length;
    }
    const over = this.take(data);
    if (over) return over;
    if (this.framing === "length" && this.remaining === 0) return this.complete(true);
    return MORE;
  }

  private chunked(data: Buffer): FeedResult {
    let p = 0;
    while (p < data.length) {
      if (this.chunkState === "data") {
        const n = Math.min(this.remaining, data.length - p);
        const over = this.take(data.subarray(p, p + n));
        if (over) return over;
        this.remaining -= n;
        p += n;
        if (this.remaining === 0) this.chunkState = "data-crlf";
        continue;
      }
      const eol = data.indexOf(LF, p);
      const piece = data.subarray(p, eol === -1 ? data.length : eol + 1);
      const line = this.line ? Buffer.concat([this.line, piece]) : piece;
      if (eol === -1) {
        if (line.length > MAX_CHUNK_LINE)
          return this.finish({ t: "error", code: "HPE_CHUNK_EXTENSIONS_OVERFLOW" });
        this.line = line === piece ? Buffer.from(piece) : line;
        return MORE;
      }
      this.line = undefined;
      p = eol + 1;
      if (line.length < 2 || line[line.length - 2] !== CR)
        return this.finish({ t: "error", code: "HPE_LF_EXPECTED" });
      const text = line.toString("latin1", 0, line.length - 2);
      if (this.chunkState === "data-crlf") {
        if (text !== "") return this.finish({ t: "error", code: "HPE_STRICT" });
        this.chunkState = "size";
      } else if (this.chunkState === "size") {
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(text);
        if (!m) return this.finish({ t: "error", code: "HPE_INVALID_CHUNK_SIZE" });
        const size = Number.parseInt(m[1] ?? "", 16);
        if (size === 0) this.chunkState = "trailers";
        else {
          this.remaining = size;
          this.chunkState = "data";
        }
      } else if (text === "") {
        // The blank line after the trailers: the response is complete.
        return p === data.length
          ? this.complete(true)
          : this.finish({ t: "error", code: "HPE_DATA_AFTER_RESPONSE" });
      }
    }
    return MORE;
  }

  /** Keep body bytes (2xx only: other bodies are read for framing and dropped), within the limit. */
  private take(bytes: Buffer): FeedResult | undefined {
    this.bodyBytes += bytes.length;
    if (this.bodyBytes > this.maxBodyBytes) return this.finish({ t: "too-large", bytes: this.bodyBytes });
    if (this.status >= 200 && this.status <= 299 && bytes.length > 0) {
      // The first body bytes are only viewed: a body that arrives whole in one read is never copied.
      if (this.kept === 0 && this.view === undefined) {
        this.view = bytes;
        return undefined;
      }
      if (this.view) this.keepView();
      this.copy(bytes);
    }
    return undefined;
  }

  /** Copy the viewed bytes into the store (the fed buffer is about to be reused, or more bytes follow). */
  private keepView(): void {
    const v = this.view;
    this.view = undefined;
    if (v) this.copy(v);
  }

  private copy(bytes: Buffer): void {
    const need = this.kept + bytes.length;
    // Room for what is announced to follow too (a content-length body, the rest of a chunk), within the limit, but
    // no more than twice what has arrived plus one read: a few bytes announcing the limit must not cost the limit.
    const expected = Math.min(this.maxBodyBytes, need + this.remaining, 2 * need + READ_AHEAD_BYTES);
    if (need > this.store.buf.length) this.grow(Math.max(need, expected));
    bytes.copy(this.store.buf, this.kept);
    this.kept = need;
  }

  /** Room for `need` body bytes: at least double, at most the body limit (`need` never exceeds it). */
  private grow(need: number): void {
    const size = Math.max(need, Math.min(this.maxBodyBytes, Math.max(16 * 1024, 2 * this.store.buf.length)));
    const next = Buffer.allocUnsafeSlow(size);
    this.store.buf.copy(next, 0, 0, this.kept);
    this.store.buf = next;
  }

  private complete(clean: boolean): FeedResult {
    const body = this.view ?? this.store.buf.subarray(0, this.kept);
    this.view = undefined;
    return this.finish({ t: "done", status: this.status, body, reusable: clean && this.keepAlive });
  }

  private finish(r: FeedResult): FeedResult {
    this.finished = true;
    return r;
  }
}

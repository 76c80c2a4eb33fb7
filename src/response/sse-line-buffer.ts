/**
 * Splits a byte stream that arrives in arbitrary chunks into text lines, for Server-Sent Events.
 *
 * Envoy hands kvroute the upstream body one ext_proc message per upstream chunk, split anywhere: inside a line,
 * inside a `\r\n` pair, inside a multi-byte UTF-8 character. AIBrix scanned each chunk on its own, so a line split
 * across two chunks looked like malformed JSON and failed the request with a 500. This buffer keeps the bytes of
 * the unfinished line across chunks and decodes only complete lines. Byte `0x0A` never occurs inside a multi-byte
 * UTF-8 sequence, so a complete line always holds complete characters.
 *
 * Memory is bounded: a line longer than `maxLineBytes` is dropped (counted in `droppedLines`) and the buffer skips
 * bytes until the next newline, then carries on.
 *
 * @module
 */

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = new Uint8Array(0);

/** Decoder for complete lines. Stateless between calls (no `stream` option), so one instance is shared. */
const decoder = new TextDecoder("utf-8");

/** A complete line as text; an empty line (an SSE event separator: most lines of a stream) without a decode. */
function decodeLine(line: Uint8Array): string {
  return line.byteLength === 0 ? "" : decoder.decode(line);
}

/**
 * Told each complete line: `bytes[start, end)`, without its `\n` or a trailing `\r`. `bytes` is the caller's chunk
 * or a scratch buffer (a line split across chunks): read it before returning, never keep it. Offsets rather than a
 * view: a view of a Node `Buffer` is a new object per line, which cost more than scanning the line.
 */
export type SseLineSink = (bytes: Uint8Array, start: number, end: number) => void;

/** A line splitter for one response body. Not reusable across bodies. */
export interface SseLineBuffer {
  /**
   * Feeds the next chunk and hands each line it completed to `sink`, in order, undecoded (the caller decides which
   * lines are worth decoding). The unfinished tail is kept (copied) for the next call.
   */
  pushBytes(chunk: Uint8Array, sink: SseLineSink): void;
  /** Ends the stream like {@link SseLineBuffer.flush}, handing the unfinished last line, if any, to `sink`. */
  flushBytes(sink: SseLineSink): void;
  /**
   * Feeds the next chunk and returns the lines it completed, in order, without their `\n` or a trailing `\r`.
   * The unfinished tail is kept (copied) for the next call.
   */
  push(chunk: Uint8Array): string[];
  /**
   * Ends the stream: returns the unfinished last line (a body that does not end in `\n`), if any, and empties the
   * buffer. Returns nothing if that line was over the limit (it is already counted in `droppedLines`).
   */
  flush(): string[];
  /** Lines dropped so far because they were longer than `maxLineBytes`. */
  readonly droppedLines: number;
  /** Bytes currently held for the unfinished line (at most `maxLineBytes`). */
  readonly bufferedBytes: number;
}

/**
 * Creates a line buffer.
 *
 * @param maxLineBytes the longest line kept, in bytes, counting a trailing `\r` but not the `\n`. Longer lines are
 *   dropped. Must be a positive integer.
 * @throws RangeError if `maxLineBytes` is not a positive integer (a configuration bug, raised at construction).
 */
export function createSseLineBuffer(maxLineBytes: number): SseLineBuffer {
  if (!Number.isInteger(maxLineBytes) || maxLineBytes <= 0) {
    throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
  }
  /** Copies of the bytes of the unfinished line, oldest first. */
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** Inside an over-long line: skip everything up to and including the next `\n`. */
  let skipping = false;
  let dropped = 0;

  /** Hand `sink` the line made of `pending` followed by `chunk[start, end)`, without a trailing `\r`; clears `pending`. */
  const takeLine = (chunk: Uint8Array, start: number, end: number, sink: SseLineSink): void => {
    let bytes = chunk;
    if (pendingBytes > 0) {
      bytes = new Uint8Array(pendingBytes + (end - start));
      let offset = 0;
      for (const part of pending) {
        bytes.set(part, offset);
        offset += part.byteLength;
      }
      bytes.set(chunk.subarray(start, end), offset);
      pending = [];
      pendingBytes = 0;
      start = 0;
      end = bytes.byteLength;
    }
    sink(bytes, start, end > start && bytes[end - 1] === CR ? end - 1 : end);
  };

  const drop = (): void => {
    pending = [];
    pendingBytes = 0;
    dropped += 1;
  };

  const pushBytes = (chunk: Uint8Array, sink: SseLineSink): void => {
    let start = 0;
    const length = chunk.byteLength;
    while (start < length) {
      const newline = chunk.indexOf(LF, start);
      if (newline < 0) {
        // Unfinished line: keep it, unless it is (or becomes) too long.
        if (!skipping) {
          if (pendingBytes + (length - start) > maxLineBytes) {
            drop();
            skipping = true;
          } else {
            pending.push(chunk.slice(start));
            pendingBytes += length - start;
          }
        }
        break;
      }
      if (skipping) {
        skipping = false; // the over-long line ends here; it was counted when it crossed the limit
      } else if (pendingBytes + (newline - start) > maxLineBytes) {
        drop();
      } else {
        takeLine(chunk, start, newline, sink);
      }
      start = newline + 1;
    }
  };

  const flushBytes = (sink: SseLineSink): void => {
    if (skipping) {
      skipping = false;
      return;
    }
    if (pendingBytes > 0) takeLine(EMPTY, 0, 0, sink);
  };

  return {
    pushBytes,
    flushBytes,

    push(chunk: Uint8Array): string[] {
      const lines: string[] = [];
      pushBytes(chunk, (bytes, start, end) => lines.push(decodeLine(bytes.subarray(start, end))));
      return lines;
    },

    flush(): string[] {
      const lines: string[] = [];
      flushBytes((bytes, start, end) => lines.push(decodeLine(bytes.subarray(start, end))));
      return lines;
    },

    get droppedLines(): number {
      return dropped;
    },

    get bufferedBytes(): number {
      return pendingBytes;
    },
  };
}

/**
 * Harvests token usage from an upstream response body that Envoy streams to kvroute chunk by chunk.
 *
 * Runs on the event loop for every chunk, so the common path is cheap: SSE lines are scanned for the literal
 * `"usage"` and only those followed by an object are JSON-parsed. Nothing here throws on body content: a malformed
 * line, an over-long line or an oversized JSON body is counted and ignored, never turned into an error. (AIBrix
 * answered a 500 when an SSE line was split across chunks.)
 *
 * Two modes, chosen once from the response:
 * - **SSE** (`text/event-stream`, or the request asked for `stream` and the response has no JSON content type):
 *   lines `data: <json>` are read one by one; `[DONE]` is skipped; the last usage seen wins. Anthropic
 *   `message_delta` events carry only the output count, so a usage lacking the prompt count keeps the previous one.
 * - **JSON** (anything else): chunks are buffered up to `maxBufferedBytes`, parsed once at `end()`.
 *
 * @module
 */

import { createSseLineBuffer } from "./sse-line-buffer";
import type { Usage } from "./usage";
import { completeUsage, usagePatchFromJson } from "./usage";

/** Options of `createUsageHarvester`. */
export interface UsageHarvesterOptions {
  /** The request asked for `stream: true`. */
  readonly stream: boolean;
  /** The response `content-type` header, when known. It decides the mode when it names SSE or JSON. */
  readonly contentType?: string;
  /**
   * Memory bound, in bytes: the largest JSON body buffered (over it, usage is given up: `truncated`), and the
   * default longest SSE line. A positive integer.
   */
  readonly maxBufferedBytes: number;
  /** The longest SSE line kept, in bytes; longer lines are dropped. Defaults to `maxBufferedBytes`. */
  readonly maxLineBytes?: number;
}

/** What was learnt from a response body. */
export interface HarvestResult {
  /** The usage reported by the server; absent when it reported none (or we could not read it). */
  readonly usage?: Usage;
  /** SSE `data:` events seen, excluding `[DONE]`. Always 0 for a JSON body. */
  readonly events: number;
  /** A data event (other than `[DONE]`) has been seen. Always false for a JSON body. */
  readonly firstDataSeen: boolean;
  /** SSE data lines that looked like they carried usage but were not valid JSON. */
  readonly malformedLines: number;
  /** SSE lines longer than the line limit, dropped. */
  readonly droppedLines: number;
  /** The JSON body outgrew `maxBufferedBytes`; it was not parsed and usage is unknown. */
  readonly truncated: boolean;
  /** The JSON body was not valid JSON. An empty body is not malformed. */
  readonly malformed: boolean;
  /** Body bytes pushed. */
  readonly bytes: number;
}

/** Harvests usage from one response body. Not reusable. */
export interface UsageHarvester {
  /** `"sse"` or `"json"`, fixed at creation. */
  readonly mode: "sse" | "json";
  /** Feeds the next body chunk. Never throws on body content. Ignored after `end()`. */
  push(chunk: Uint8Array): void;
  /** Ends the body (flushing an unterminated last SSE line, parsing a JSON body) and returns the result. Idempotent. */
  end(): HarvestResult;
  /** The usage known so far (SSE: the last one seen; JSON: only after `end()`). */
  readonly usage: Usage | undefined;
  /** A data event has been seen; the caller reads it after each `push` to time the first token. */
  readonly firstDataSeen: boolean;
  /** A snapshot of everything known so far, without ending the body. */
  readonly current: HarvestResult;
}

/** `data:` field prefix of an SSE line. */
const DATA_PREFIX = "data:";
/** The sentinel vLLM and OpenAI send last. */
const DONE = "[DONE]";
/** A `usage` key followed by an object (skips vLLM's `"usage":null` on every chunk of older versions). */
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
/** The bytes looked for before a line is decoded at all. */
const USAGE_KEY_BYTES = new TextEncoder().encode('"usage"');
const DATA_PREFIX_BYTES = new TextEncoder().encode(DATA_PREFIX);
/** UTF-8 byte-order mark. */
const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);
/**
 * Lines shorter than this are decoded whole and read as text (they are few: `[DONE]`, separators, `event:` lines).
 * From this length on, the data after `data: ` is ≥ 58 bytes, so ≥ 16 UTF-16 units: never a padded `[DONE]`.
 */
const BYTE_SCAN_MIN_BYTES = 64;

/** Decoder of whole lines (drops a leading byte-order mark, as the line reader always did). */
const lineDecoder = new TextDecoder("utf-8");
/** Decoder of a line's data after `data:`: a byte-order mark there is content, as it is in the whole line. */
const dataDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Whether `bytes` holds `prefix` at `at`. */
function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (bytes.byteLength - at < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/**
 * Whether `bytes[start, end)` holds `needle`. A plain loop on purpose: `Buffer#indexOf` (a call into C++ and a
 * view per line) cost more than this scan of a ~200-byte line.
 */
function holds(bytes: Uint8Array, start: number, end: number, needle: Uint8Array): boolean {
  const first = needle[0];
  const last = end - needle.byteLength;
  for (let i = start; i <= last; i++) {
    if (bytes[i] !== first) continue;
    let j = 1;
    while (j < needle.byteLength && bytes[i + j] === needle[j]) j++;
    if (j === needle.byteLength) return true;
  }
  return false;
}

function isSse(options: UsageHarvesterOptions): boolean {
  const type = options.contentType?.split(";", 1)[0]?.trim().toLowerCase();
  if (type === "text/event-stream") return true;
  if (type !== undefined && (type === "application/json" || type.endsWith("+json"))) return false;
  return options.stream;
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Decoder of a whole JSON body. */
const decoder = new TextDecoder("utf-8");

/**
 * Creates a harvester for one response body.
 *
 * @throws RangeError if `maxBufferedBytes` or `maxLineBytes` is not a positive integer (configuration bug).
 */
export function createUsageHarvester(options: UsageHarvesterOptions): UsageHarvester {
  const { maxBufferedBytes } = options;
  if (!Number.isInteger(maxBufferedBytes) || maxBufferedBytes <= 0) {
    throw new RangeError(`maxBufferedBytes must be a positive integer, got ${maxBufferedBytes}`);
  }
  const mode = isSse(options) ? "sse" : "json";
  const lines = mode === "sse" ? createSseLineBuffer(options.maxLineBytes ?? maxBufferedBytes) : undefined;

  let usage: Usage | undefined;
  let events = 0;
  let firstDataSeen = false;
  let malformedLines = 0;
  let truncated = false;
  let malformed = false;
  let bytes = 0;
  let ended: HarvestResult | undefined;
  /** JSON mode: the body so far (copies), until `truncated`. */
  let body: Uint8Array[] = [];

  /** One decoded SSE line. */
  const onLine = (line: string): void => {
    if (!line.startsWith(DATA_PREFIX)) return; // event:, id:, retry:, comments, blank separators
    const data =
      line.charCodeAt(DATA_PREFIX.length) === 0x20
        ? line.slice(DATA_PREFIX.length + 1)
        : line.slice(DATA_PREFIX.length);
    if (data === DONE || (data.length < 16 && data.trim() === DONE)) return;
    events += 1;
    firstDataSeen = true;
    if (data.includes('"usage"')) onUsageData(data);
  };

  /**
   * One SSE line as bytes: the same outcome as `onLine(decode(line))`, but only a line that holds `"usage"` is
   * decoded, and then only its data. Exact because the markers are ASCII, and in UTF-8 an ASCII byte is always that
   * character (never part of a multi-byte one, and a decoder replaces invalid bytes without eating an ASCII one):
   * - a line shorter than {@link BYTE_SCAN_MIN_BYTES} or starting with a byte-order mark (which the decoder drops
   *   at the start of a line) takes the text path;
   * - otherwise the data after `data:` is at least 16 UTF-16 units long (a UTF-8 sequence of 3 bytes or fewer is
   *   one unit or more), so it is never `[DONE]`, padded or not: it is an event.
   */
  const onLineBytes = (bytes: Uint8Array, start: number, end: number): void => {
    if (end - start < BYTE_SCAN_MIN_BYTES || startsWith(bytes, start, BOM)) {
      if (end > start) onLine(lineDecoder.decode(bytes.subarray(start, end)));
      return;
    }
    if (!startsWith(bytes, start, DATA_PREFIX_BYTES)) return;
    const dataStart =
      start + DATA_PREFIX_BYTES.length + (bytes[start + DATA_PREFIX_BYTES.length] === 0x20 ? 1 : 0);
    events += 1;
    firstDataSeen = true;
    if (holds(bytes, dataStart, end, USAGE_KEY_BYTES))
      onUsageData(dataDecoder.decode(bytes.subarray(dataStart, end)));
  };

  /** An event's data that holds `"usage"`: parsed when the key is followed by an object. */
  const onUsageData = (data: string): void => {
    if (!USAGE_OBJECT.test(data)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      malformedLines += 1;
      return;
    }
    const patch = usagePatchFromJson(parsed);
    if (patch === undefined) return;
    const next = completeUsage(patch, usage);
    if (next !== undefined) usage = next;
  };

  const parseBody = (): void => {
    if (truncated || bytes === 0) return;
    const text = decoder.decode(concat(body, bytes));
    body = [];
    if (text.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      malformed = true;
      return;
    }
    const patch = usagePatchFromJson(parsed);
    usage = patch === undefined ? undefined : completeUsage(patch);
  };

  const snapshot = (): HarvestResult => ({
    ...(usage !== undefined && { usage }),
    events,
    firstDataSeen,
    malformedLines,
    droppedLines: lines?.droppedLines ?? 0,
    truncated,
    malformed,
    bytes,
  });

  return {
    mode,

    push(chunk: Uint8Array): void {
      if (ended !== undefined || chunk.byteLength === 0) return;
      bytes += chunk.byteLength;
      if (lines !== undefined) {
        lines.pushBytes(chunk, onLineBytes);
      } else if (!truncated) {
        if (bytes > maxBufferedBytes) {
          truncated = true;
          body = [];
        } else {
          body.push(chunk.slice());
        }
      }
    },

    end(): HarvestResult {
      if (ended === undefined) {
        if (lines !== undefined) {
          lines.flushBytes(onLineBytes);
        } else {
          parseBody();
        }
        ended = snapshot();
      }
      return ended;
    },

    get usage(): Usage | undefined {
      return usage;
    },

    get firstDataSeen(): boolean {
      return firstDataSeen;
    },

    get current(): HarvestResult {
      return ended ?? snapshot();
    },
  };
}

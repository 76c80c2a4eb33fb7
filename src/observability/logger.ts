/**
 * pino JSON logger. Prompt text and secrets are never logged at info; request lines carry ids, model, pod,
 * strategy, token counts and timings only.
 *
 * The process logs to stdout through a bounded asynchronous buffer ({@link createStdoutLogger}): a synchronous
 * `write(2)` per request line cost the event loop a syscall per request and stalled it whenever the reader of stdout
 * was slow. Lines are batched and written off the loop; the buffer holds at most
 * {@link STDOUT_LOG_MAX_BUFFERED_BYTES}, and a line that would overflow it is dropped and counted
 * (`kvroute_log_lines_dropped_total`), so a stuck reader costs log lines, never memory or routing latency.
 *
 * @module
 */
import pino from "pino";
import type { Logger } from "pino";

export type { Logger } from "pino";

/**
 * Most bytes of log lines waiting for stdout. At ~450 bytes a request line this is ~9k requests: seconds of full
 * load, enough to ride out a reader's hiccup; beyond it a reader is not keeping up at all, and lines are dropped.
 */
export const STDOUT_LOG_MAX_BUFFERED_BYTES = 4 << 20;
/**
 * Lines are written once this many bytes are waiting (one syscall for ~10 request lines at load; below sonic-boom's
 * 16 KiB single-write size), or by {@link STDOUT_LOG_FLUSH_MS} at the latest.
 */
export const STDOUT_LOG_BATCH_BYTES = 4096;
/** The longest a line waits in the buffer when traffic is too low to fill a batch, ms. */
export const STDOUT_LOG_FLUSH_MS = 100;

/** The `level` field of a line: the level's name. */
function levelField(label: string): { level: string } {
  return { level: label };
}

/**
 * A duration for a log line, ms: rounded to 0.01 ms (what a log reader can use; the float's other digits are
 * noise, and they made a request line ~30 bytes longer). Undefined stays undefined (the field is left out).
 */
export function roundMs(ms: number): number;
export function roundMs(ms: number | undefined): number | undefined;
export function roundMs(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 100) / 100;
}

/** pino options shared by every kvroute logger. */
function loggerOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: { service: "kvroute" },
    timestamp: pino.stdTimeFunctions.isoTime,
    // `"level":"info"` rather than pino's number (30): readable in `kubectl logs` and matched by name in log
    // pipelines. The label is pino's own string, so this costs one small object per line.
    formatters: { level: levelField },
    // Belt and braces: even if a caller passes these, they never reach the log.
    redact: {
      paths: ["authorization", "headers.authorization", "prompt", "body", "messages"],
      censor: "[redacted]",
    },
  };
}

/** Create a logger writing JSON lines to `destination` (tests capture lines this way). */
export function createLogger(level: string, destination: pino.DestinationStream): Logger {
  return pino(loggerOptions(level), destination);
}

/** Where {@link createStdoutLogger} writes; every field has a default for the real process. */
export interface StdoutLogOptions {
  /** File descriptor written to; default 1 (stdout). */
  readonly fd?: number;
  /** Bound on bytes waiting to be written; default {@link STDOUT_LOG_MAX_BUFFERED_BYTES}. */
  readonly maxBufferedBytes?: number;
  /** Bytes collected before a write; default {@link STDOUT_LOG_BATCH_BYTES} (0: write each line at once). */
  readonly batchBytes?: number;
  /** Longest wait of a buffered line, ms; default {@link STDOUT_LOG_FLUSH_MS}. */
  readonly flushMs?: number;
}

/** The process logger and the controls of its buffer. */
export interface StdoutLogger {
  readonly log: Logger;
  /** Lines dropped so far because the buffer was full (the reader of stdout is not keeping up). */
  droppedLines(): number;
  /**
   * Write out everything buffered, synchronously (before the process exits). Never throws: when nobody reads
   * stdout any more (EPIPE) logging stops for good and the buffered lines are lost with the reader.
   */
  flushSync(): void;
  /**
   * Let the write under way finish (at most `timeoutMs`: a reader that stopped reading must not hold the exit),
   * then {@link StdoutLogger.flushSync}: the lines reach stdout in the order they were logged. Never rejects.
   */
  flush(timeoutMs?: number): Promise<void>;
  /**
   * Write out what is buffered, stop the periodic flush and release the destination (closing its descriptor unless
   * it is stdout or stderr). Resolves once closed; nothing may be logged after it. For a logger given its own `fd`
   * (tests): that descriptor belongs to the logger, whose timer would otherwise `fsync` it after the caller closed
   * it (or after the number was reused).
   */
  close(): Promise<void>;
}

/** How long {@link StdoutLogger.flush} waits for the write under way by default, ms. */
export const STDOUT_LOG_SETTLE_MS = 1000;

/** Create the process logger: JSON lines to stdout through a bounded asynchronous buffer (see the module doc). */
export function createStdoutLogger(level: string, options: StdoutLogOptions = {}): StdoutLogger {
  const destination = pino.destination({
    dest: options.fd ?? 1,
    sync: false,
    minLength: options.batchBytes ?? STDOUT_LOG_BATCH_BYTES,
    maxLength: options.maxBufferedBytes ?? STDOUT_LOG_MAX_BUFFERED_BYTES,
    periodicFlush: options.flushMs ?? STDOUT_LOG_FLUSH_MS,
  });
  let dropped = 0;
  let closed = false;
  destination.on("drop", () => (dropped += 1));
  const flushSync = (): void => {
    try {
      destination.flushSync();
    } catch (e) {
      // pino's own handler of this event turns a broken pipe into "stop logging"; its exit-time flush, run again
      // by pino on `exit`, is then a no-op instead of a throw. Any other failure: there is nowhere left to say so.
      if ((e as NodeJS.ErrnoException).code === "EPIPE") destination.emit("error", e);
    }
  };
  const settle = (timeoutMs: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        // Called once the buffer's write is done (or failed: a broken pipe).
        destination.flush(done);
      } catch {
        done();
      }
    });
  return {
    log: pino(loggerOptions(level), destination),
    droppedLines: () => dropped,
    flushSync,
    async flush(timeoutMs = STDOUT_LOG_SETTLE_MS) {
      await settle(timeoutMs);
      flushSync();
    },
    async close() {
      await settle(STDOUT_LOG_SETTLE_MS);
      flushSync();
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        destination.once("close", () => resolve());
        // A close that fails has nowhere to be reported; the logger is finished either way.
        destination.once("error", () => resolve());
        destination.destroy();
      });
    },
  };
}

/**
 * pino JSON logger. Prompt text and secrets are never logged at info; request lines carry ids, model, pod,
 * strategy, token counts and timings only.
 *
 * @module
 */
import pino from "pino";
import type { Logger } from "pino";

export type { Logger } from "pino";

/** Create the process logger writing JSON lines to stdout (or to `destination`, for tests). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "kvroute" },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: even if a caller passes these, they never reach the log.
    redact: {
      paths: ["authorization", "headers.authorization", "prompt", "body", "messages"],
      censor: "[redacted]",
    },
  };
  // Synchronous stdout: one write(2) per line, cheaper here than pino's default thread hand-off (measured with
  // `npm run bench -- extproc`), and a reader that went away (EPIPE) cannot hang the exit: the async default's
  // exit-time flush retries a broken pipe forever.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}

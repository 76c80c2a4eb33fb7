/**
 * The one error type tokenizers reject with. It carries a short machine-readable reason and never prompt text.
 *
 * @module
 */

/** Why an encode failed. `queue-full` and `aborted` are load-shedding outcomes, the rest are real failures. */
export type TokenizeFailure =
  | "queue-full"
  | "aborted"
  | "worker-crash"
  | "worker-error"
  | "closed"
  | "timeout"
  | "no-endpoint"
  | "network"
  | "bad-response"
  | `http-${number}`;

/** A failed encode. `message` is `tokenize failed: <reason>` plus an optional short detail (no prompt text). */
export class TokenizeError extends Error {
  override readonly name = "TokenizeError";

  constructor(
    readonly reason: TokenizeFailure,
    detail?: string,
  ) {
    super(detail === undefined ? `tokenize failed: ${reason}` : `tokenize failed: ${reason} (${detail})`);
  }
}

/** The reason of `err` when it is a `TokenizeError`, else `undefined`. */
export function tokenizeFailure(err: unknown): TokenizeFailure | undefined {
  return err instanceof TokenizeError ? err.reason : undefined;
}

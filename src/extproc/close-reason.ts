/**
 * The closed set of reasons an ext_proc session ends. These strings are what the stream-close metric and the logs
 * carry, so a new reason is a new label value: add it here, and every `switch` over them stops compiling until it
 * says what the reason means.
 *
 * @module
 */
import type { Outcome } from "../routing";

/**
 * Why a stream ended: `client-ended`, Envoy half-closed it; `cancelled`, Envoy cancelled it (RST_STREAM);
 * `reset`, the transport failed; `shutdown`, kvroute cut it while stopping; `error`, a protocol or internal error.
 */
export type SessionClose = "client-ended" | "cancelled" | "reset" | "shutdown" | "error";

/** Why a session is over: its stream closed, or kvroute answered the request with an immediate response. */
export type SessionEnd = SessionClose | "immediate-response";

/**
 * The outcome a pick gets when its session ended before the decision was sent: a shutdown or an error is said as
 * such; any other end means the request went away (or was already answered) before it could be served.
 */
export function outcomeOfEnd(why: SessionEnd): Outcome["kind"] {
  switch (why) {
    case "shutdown":
      return "shutdown";
    case "error":
      return "error";
    case "client-ended":
    case "cancelled":
    case "reset":
    case "immediate-response":
      return "cancelled";
    default:
      return unreachable(why);
  }
}

/** Compile-time exhaustiveness: a reason missing from a `switch` makes its `default` reach here with a non-`never`. */
export function unreachable(x: never): never {
  throw new Error(`unreachable: ${String(x)}`);
}

/**
 * Why a stream's abort signal fired: its session ended (any {@link SessionEnd}), or a drain refused the request
 * before it was routed (`draining`: the session answers it with the 503 envelope, `x-error-draining`).
 */
export type AbortReason = SessionEnd | "draining";

/** The `reason` of an aborted stream signal: an `AbortError` that says why, in the closed set above. */
export class StreamAborted extends Error {
  override readonly name = "AbortError";

  constructor(readonly why: AbortReason) {
    super(`the ext_proc stream was aborted: ${why}`);
  }
}

/** One instance per reason, built on first use: an abort per stream must not build an error (and a stack) each. */
const ABORTED = new Map<AbortReason, StreamAborted>();

/** The shared {@link StreamAborted} of `why`. */
export function streamAborted(why: AbortReason): StreamAborted {
  let e = ABORTED.get(why);
  if (e === undefined) ABORTED.set(why, (e = new StreamAborted(why)));
  return e;
}

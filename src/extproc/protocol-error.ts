/**
 * A message that is illegal in the stream's current state (out of order, duplicate, empty). The server ends the
 * stream with gRPC INVALID_ARGUMENT: Envoy then fails the request (`status_on_error`) unless the filter fails open.
 *
 * @module
 */

/** An ext_proc protocol violation by the peer. `reason` is a kebab-case constant (a metric label). */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly reason: string;

  constructor(reason: string, state: string) {
    super(`ext_proc protocol error: ${reason} in state ${state}`);
    this.reason = reason;
  }
}

/**
 * The closed set of failures kvroute can report to a client, and the one error class that carries them.
 *
 * Parsers, discovery and strategies throw `RouteError`; only `src/extproc/immediate-response.ts` knows how a
 * `Code` becomes an HTTP status, an OpenAI error envelope and AIBrix's `x-error-*` headers.
 *
 * @module
 */

/** Every failure kvroute reports. There are no user-defined codes. */
export enum Code {
  /** Malformed JSON, a missing or wrong-typed field, an empty prompt. HTTP 400. */
  BadRequest = "bad_request",
  /** The request body is over the configured limit. HTTP 413. */
  PayloadTooLarge = "payload_too_large",
  /** The `:path` is not an inference endpoint kvroute understands. HTTP 501. */
  UnknownPath = "unknown_path",
  /** No pod serves the requested model (or adapter). HTTP 400, as AIBrix. */
  UnknownModel = "unknown_model",
  /** The `routing-strategy` header or configured strategy does not parse or names no registered strategy. HTTP 400. */
  InvalidStrategy = "invalid_strategy",
  /** The model exists but no pod is ready to take the request. HTTP 503. */
  NoReadyPod = "no_ready_pod",
  /** The gateway API key is missing or wrong. HTTP 401. */
  Unauthenticated = "unauthenticated",
  /** The gateway API key is right but the named user has no record (`aibrix-users/<name>`). HTTP 403. */
  UnknownUser = "unknown_user",
  /** A user's RPM/TPM, a model's RPS, or a bounded wait queue is exhausted. HTTP 429. */
  RateLimited = "rate_limited",
  /** No pod had room in time, or the wait was cancelled. HTTP 503. */
  Unavailable = "unavailable",
  /** A shared resource bound is reached (e.g. the buffered request-body budget); the header says which. HTTP 503. */
  Overloaded = "overloaded",
  /**
   * kvroute is stopping: its drain delay is over and it takes no new requests (a request that reaches it after the
   * listener closed, on a connection opened before). HTTP 503 with `x-error-draining`, so Envoy's retry policy or the
   * client can send it again, to another replica.
   */
  Draining = "draining",
  /**
   * Flow control: the queue (or the request's priority band in it) is full and nothing sheddable could make room.
   * HTTP 429 with `x-kvroute-dropped-reason: queue-full`.
   */
  FlowQueueFull = "flow_queue_full",
  /** Flow control: the request waited its whole TTL for its model to have room. HTTP 503, `…-reason: ttl`. */
  FlowExpired = "flow_expired",
  /**
   * Flow control: a sheddable (negative-priority) queued request was dropped to make room for a higher band. HTTP
   * 503 (the fleet is overloaded, not the client over a rate), `x-kvroute-dropped-reason: shed`.
   */
  FlowShed = "flow_shed",
  /** A bug or an unexpected failure inside kvroute. HTTP 500. */
  Internal = "internal",
}

/** Options of a `RouteError`. */
export interface RouteErrorOptions {
  /** The underlying failure, kept for logs; never shown to the client. */
  readonly cause?: unknown;
  /** OpenAI `param`: the request field at fault (`model`, `messages`, …). */
  readonly param?: string;
  /**
   * AIBrix-compatible error header to set on the immediate response, as `[name, value]`. When absent, the wire
   * mapping picks the default header for the code.
   */
  readonly errorHeader?: readonly [string, string];
  /** OpenAI `code` string for the envelope (`model_not_found`, …). When absent, the wire mapping picks one. */
  readonly openaiCode?: string;
}

/** A failure with a `Code`. The message is safe to show to the client (it never includes prompt text). */
export class RouteError extends Error {
  override readonly name = "RouteError";
  readonly code: Code;
  readonly param: string | undefined;
  readonly errorHeader: readonly [string, string] | undefined;
  readonly openaiCode: string | undefined;

  constructor(code: Code, message: string, options: RouteErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.param = options.param;
    this.errorHeader = options.errorHeader;
    this.openaiCode = options.openaiCode;
  }

  /**
   * Normalise anything thrown into a `RouteError`. A `RouteError` (even from another copy of this module) is
   * returned as is; everything else becomes `Code.Internal` with the original kept as `cause`.
   */
  static from(reason: unknown): RouteError {
    if (reason instanceof RouteError) return reason;
    if (
      typeof reason === "object" &&
      reason !== null &&
      (reason as { name?: unknown }).name === "RouteError" &&
      Object.values(Code).includes((reason as { code?: unknown }).code as Code)
    ) {
      const r = reason as RouteError;
      return new RouteError(r.code, r.message, {
        cause: r.cause,
        ...(r.param === undefined ? {} : { param: r.param }),
        ...(r.errorHeader === undefined ? {} : { errorHeader: r.errorHeader }),
        ...(r.openaiCode === undefined ? {} : { openaiCode: r.openaiCode }),
      });
    }
    return new RouteError(Code.Internal, "internal error", { cause: reason });
  }
}

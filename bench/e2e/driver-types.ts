/**
 * Options, inputs and results of the end-to-end driver (`envoy-driver.ts`).
 *
 * @module
 */

/**
 * How the request body reaches kvroute, as Envoy's `processing_mode.request_body_mode`.
 * `STREAMED_NO_WAIT` is STREAMED with `send_body_without_waiting_for_header_response`.
 */
export type RequestBodyMode = "BUFFERED" | "STREAMED" | "STREAMED_NO_WAIT" | "FULL_DUPLEX_STREAMED";

/** `processing_mode.response_body_mode`. */
export type ResponseBodyMode = "NONE" | "STREAMED" | "BUFFERED" | "FULL_DUPLEX_STREAMED";

/** Options of `EnvoyDriver`; defaults mirror `envoy/envoy.yaml`. */
export interface DriverOptions {
  /** kvroute's ext_proc gRPC `host:port`. */
  readonly extProcAddress: string;
  /** Default `BUFFERED`. */
  readonly requestBodyMode?: RequestBodyMode;
  /** Default `STREAMED` (kvroute harvests usage from the SSE). */
  readonly responseBodyMode?: ResponseBodyMode;
  /** Send `protocol_config` on the first message, as Envoy ≥ 1.33 does; default true. */
  readonly sendProtocolConfig?: boolean;
  /** Honour `mode_override` in header replies (`allow_mode_override`); default true. */
  readonly allowModeOverride?: boolean;
  /** Envoy's per-message timer (`message_timeout`); default 5000 ms. */
  readonly messageTimeoutMs?: number;
  /** Whole-request limit (route `timeout`); default 600 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Request body chunk size in the streamed modes (downstream data frames); default 16 KiB. */
  readonly bodyChunkBytes?: number;
  /** Header the ORIGINAL_DST cluster reads (`http_header_name`); default `target-pod`. */
  readonly targetHeader?: string;
  /** HTTP status of a failed side stream (`status_on_error`); default 503. */
  readonly statusOnError?: number;
  /** `:authority` of the downstream requests; default `kvroute-e2e`. */
  readonly authority?: string;
  /** Upstream sockets per pod (keep-alive); default 512. */
  readonly maxSockets?: number;
}

/** One HTTP request as the downstream client sends it through Envoy. */
export interface DriverRequest {
  /** e.g. `/v1/chat/completions`. */
  readonly path: string;
  /** JSON body. */
  readonly body: string | Buffer;
  /** Extra request headers (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
  /** `x-request-id`; default a counter. */
  readonly requestId?: string;
}

/**
 * Why a request failed:
 * - `immediate_response`: kvroute answered it locally (`status` is its code);
 * - `extproc_error`: the side stream failed (non-OK gRPC status): Envoy's `status_on_error`;
 * - `extproc_timeout`: no reply within `message_timeout`: Envoy's 504;
 * - `extproc_spurious`: a reply of the wrong kind (Envoy would drop processing; counted so it is seen);
 * - `no_route`: no target header after the request path: Envoy's 503 "no healthy upstream";
 * - `upstream_connect`: the chosen pod refused or failed the connection (503);
 * - `upstream_status`: the pod answered non-2xx;
 * - `upstream_reset`: the response broke off mid-body;
 * - `stream_error`: the SSE carried an `{"error": ...}` event;
 * - `timeout`: the whole request exceeded `requestTimeoutMs`;
 * - `internal`: a driver bug (anything else thrown).
 */
export type ErrorKind =
  | "immediate_response"
  | "extproc_error"
  | "extproc_timeout"
  | "extproc_spurious"
  | "no_route"
  | "upstream_connect"
  | "upstream_status"
  | "upstream_reset"
  | "stream_error"
  | "timeout"
  | "internal";

/** What one request did. Times are ms from the moment the driver began it. */
export interface DriverResult {
  readonly ok: boolean;
  readonly errorKind?: ErrorKind;
  /** HTTP status the client saw (a local reply's, or the pod's). */
  readonly status?: number;
  /** Local reply body, upstream error body or gRPC details (first 500 characters). */
  readonly errorMessage?: string;
  /**
   * Headers of kvroute's local reply (`immediate_response`), lower-case names, when it answered one: e.g.
   * flow control's `x-kvroute-dropped-reason`.
   */
  readonly localReplyHeaders?: Readonly<Record<string, string>>;
  /** `ip:port` kvroute chose. */
  readonly pod?: string;
  /** When the routing decision (the reply carrying the target header) arrived. */
  readonly decisionMs?: number;
  /** When the first content token became visible to the client. */
  readonly ttftMs?: number;
  /**
   * The longest pause between two body chunks the client saw after the first token (a streamed answer writes one
   * chunk per token, so this is the request's worst inter-token time: a decode stalled behind a prefill).
   */
  readonly maxInterChunkMs?: number;
  /** When the response ended (or the request failed). */
  readonly e2eMs: number;
  readonly promptTokens?: number;
  /** `completion_tokens` of the usage chunk. */
  readonly outputTokens?: number;
  /** `prompt_tokens_details.cached_tokens`, when the pod reports it. */
  readonly cachedTokens?: number;
}

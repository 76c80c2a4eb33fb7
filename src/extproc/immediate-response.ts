/**
 * The one place where a `Code` becomes HTTP: status, AIBrix's `x-error-*` header, and the OpenAI error envelope
 * `{"error":{"message","type","code","param"}}` (`code`/`param` are JSON null when empty, as AIBrix sends them).
 *
 * @module
 */
import { echoClientText, MAX_MESSAGE_BYTES } from "../client-echo";
import { Code, RouteError } from "../errors";
import type { HeaderValueOption, ProcessingResponse } from "./messages";

/** How one code appears on the wire. */
interface WireForm {
  readonly status: number;
  /** Default AIBrix error header when the error carries none. */
  readonly header?: readonly [string, string];
  /** Default OpenAI `code` string. */
  readonly openaiCode?: string;
}

/** Why flow control dropped a request (`queue-full`, `ttl`, `shed`). */
export const DROPPED_REASON_HEADER = "x-kvroute-dropped-reason";

const WIRE: Readonly<Record<Code, WireForm>> = {
  [Code.BadRequest]: { status: 400, header: ["x-error-request-body-processing", "true"] },
  [Code.PayloadTooLarge]: {
    status: 413,
    header: ["x-error-request-body-processing", "true"],
    openaiCode: "request_too_large",
  },
  [Code.UnknownPath]: { status: 501, header: ["x-error-request-body-processing", "true"] },
  [Code.UnknownModel]: { status: 400, openaiCode: "model_not_found" },
  [Code.InvalidStrategy]: { status: 400, header: ["x-error-routing", "true"] },
  [Code.NoReadyPod]: {
    status: 503,
    header: ["x-error-no-model-backends", "true"],
    openaiCode: "service_unavailable",
  },
  [Code.Unauthenticated]: { status: 401, openaiCode: "invalid_api_key" },
  [Code.UnknownUser]: { status: 403, header: ["x-error-user", "true"], openaiCode: "user_not_found" },
  [Code.RateLimited]: { status: 429, openaiCode: "rate_limit_exceeded" },
  [Code.Unavailable]: { status: 503, openaiCode: "service_unavailable" },
  [Code.Overloaded]: {
    status: 503,
    header: ["x-error-overloaded", "true"],
    openaiCode: "service_unavailable",
  },
  [Code.Draining]: { status: 503, header: ["x-error-draining", "true"], openaiCode: "service_unavailable" },
  [Code.FlowQueueFull]: {
    status: 429,
    header: [DROPPED_REASON_HEADER, "queue-full"],
    openaiCode: "rate_limit_exceeded",
  },
  [Code.FlowExpired]: {
    status: 503,
    header: [DROPPED_REASON_HEADER, "ttl"],
    openaiCode: "service_unavailable",
  },
  [Code.FlowShed]: {
    status: 503,
    header: [DROPPED_REASON_HEADER, "shed"],
    openaiCode: "service_unavailable",
  },
  [Code.Internal]: { status: 500 },
};

/** HTTP status for a code. */
export function httpStatusOf(code: Code): number {
  return WIRE[code].status;
}

/** OpenAI error `type` derived from the status, as AIBrix derives it (413 added as a request error). */
function errorType(status: number): string {
  if (status === 400 || status === 404 || status === 413) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "overloaded_error";
  return "api_error";
}

function header(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, "utf8") } };
}

/**
 * The error's message as the client (and the log) may see it: messages quote client input (a model name, a
 * strategy spec, a user name), so the whole text is bounded and stripped of control characters here, whatever
 * the thrower did.
 */
export function clientMessageOf(err: RouteError): string {
  return echoClientText(err.message, MAX_MESSAGE_BYTES);
}

/** Render the OpenAI error envelope for an error. */
export function errorEnvelope(err: RouteError): string {
  const status = httpStatusOf(err.code);
  return JSON.stringify({
    error: {
      message: clientMessageOf(err),
      type: errorType(status),
      code: err.openaiCode ?? WIRE[err.code].openaiCode ?? null,
      param: err.param ?? null,
    },
  });
}

/**
 * Build the `immediate_response` for an error. The response carries `content-type: application/json`, the error
 * header, and `x-request-id` so a client can quote it; `details` feeds Envoy's `%RESPONSE_CODE_DETAILS%`.
 */
export function immediateResponseFor(reason: unknown, requestId: string): ProcessingResponse {
  const err = RouteError.from(reason);
  const form = WIRE[err.code];
  const set: HeaderValueOption[] = [header("content-type", "application/json")];
  const errHeader = err.errorHeader ?? form.header;
  // AIBrix echoes the model name in `x-error-no-model-backends`: the value is client input, so it is quoted safely.
  if (errHeader) set.push(header(errHeader[0], echoClientText(errHeader[1])));
  if (requestId) set.push(header("x-request-id", requestId));
  return {
    immediate_response: {
      status: { code: form.status },
      headers: { set_headers: set },
      body: Buffer.from(errorEnvelope(err), "utf8"),
      details: `kvroute_${err.code}`,
    },
  };
}

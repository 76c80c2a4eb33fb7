/**
 * Telling Envoy's own local replies apart from a pod's response, from what the response phase sees. Envoy sends
 * its local replies through the encoder filters, so ext_proc gets them as response headers (and body) like any
 * response. What gives them away:
 * - Envoy's router adds `x-envoy-upstream-service-time` to every response that came from an upstream (unless the
 *   route sets `suppress_envoy_headers`); its local replies never carry it.
 * - Their bodies are fixed texts: `upstream connect error or disconnect/reset before headers. reset reason: …`
 *   (connect failure, connection reset or terminated before headers; `overflow` when a circuit breaker refused),
 *   `upstream request timeout`, `no healthy upstream`.
 * - Overflow replies carry `x-envoy-overloaded: true`.
 * Only 5xx can be such a reply: below 500 the pod answered.
 *
 * @module
 */
import type { ResponseSource } from "../routing";

/** Bytes of a suspected local reply's body kept to read its text (Envoy's texts fit well within this). */
export const LOCAL_REPLY_SNIFF_BYTES = 256;

const UPSTREAM_SERVICE_TIME = "x-envoy-upstream-service-time";
const OVERLOADED = "x-envoy-overloaded";
const CONNECT_FAILURE_TEXT = "upstream connect error or disconnect/reset before headers";
const TIMEOUT_TEXT = "upstream request timeout";
const NO_HEALTHY_UPSTREAM_TEXT = "no healthy upstream";

/** What the response headers said, for {@link responseSource}. */
export interface ResponseHead {
  readonly status: number;
  /** The upstream service-time header was present: the response came from the pod. */
  readonly fromUpstream: boolean;
  /** Envoy marked the reply as a circuit-breaker overflow. */
  readonly overloaded: boolean;
}

/** Read the facts {@link responseSource} needs from response headers (lower-case keys). */
export function responseHead(status: number, headers: ReadonlyMap<string, string>): ResponseHead {
  return {
    status,
    fromUpstream: headers.has(UPSTREAM_SERVICE_TIME),
    overloaded: headers.get(OVERLOADED)?.trim().toLowerCase() === "true",
  };
}

/** Whether the response may be a local reply, so its first body bytes are worth keeping. */
export function mayBeLocalReply(head: ResponseHead): boolean {
  return head.status >= 500 && !head.fromUpstream;
}

/**
 * Who wrote the response. `bodyHead` is the start of the body when one was seen (undefined or empty: none, e.g.
 * response body mode NONE); without a body a 503 counts as a connect failure and a 504 as a timeout, the statuses
 * Envoy gives those replies. A 5xx whose body is not one of Envoy's texts is the pod's (a pod behind a route that
 * suppresses Envoy's headers).
 */
export function responseSource(head: ResponseHead, bodyHead: string | undefined): ResponseSource {
  if (!mayBeLocalReply(head)) return "pod";
  if (head.overloaded) return "envoy-other";
  const text = bodyHead?.trimStart() ?? "";
  if (text === "") {
    if (head.status === 503) return "envoy-connect-failure";
    return head.status === 504 ? "envoy-timeout" : "pod";
  }
  if (text.startsWith(CONNECT_FAILURE_TEXT)) {
    return /reset reason:\s*overflow/.test(text) ? "envoy-other" : "envoy-connect-failure";
  }
  if (text.startsWith(TIMEOUT_TEXT)) return "envoy-timeout";
  if (text.startsWith(NO_HEALTHY_UPSTREAM_TEXT)) return "envoy-other";
  return "pod";
}

/**
 * The closed vocabulary of passive health: what one finished request or one scrape says about a pod, and why a
 * pod was ejected. Kept apart from the detector so the routing and extproc sides can name these without pulling
 * in its state.
 *
 * @module
 */

/**
 * A failure a pod is blamed for:
 * - `connect-failure`: Envoy could not connect, or the connection was reset before response headers (Envoy's
 *   local reply `upstream connect error or disconnect/reset before headers`);
 * - `timeout`: Envoy gave up waiting for the pod (its local reply `upstream request timeout`);
 * - `server-error`: the pod itself answered 5xx.
 */
export type RequestFailure = "connect-failure" | "timeout" | "server-error";

/**
 * What one finished request says about its pod: `success` (the pod answered below 500), a {@link RequestFailure},
 * or `neutral` (nothing about the pod: the client went away before a response, Envoy refused for a reason of its
 * own such as overflow, kvroute itself ended the stream).
 */
export type RequestVerdict = "success" | "neutral" | RequestFailure;

/**
 * What one `/metrics` scrape says about reachability: `reachable` (any HTTP answer, even a 500 or an unreadable
 * body: the server is up), `unreachable` (refused, reset, timed out before a complete answer).
 */
export type ScrapeVerdict = "reachable" | "unreachable";

/** What made the detector eject: the consecutive-failure trigger, the failure-ratio trigger, or a failed probe. */
export type EjectionTrigger = "consecutive" | "ratio" | "probe";

/** The failure that tipped the pod over: a request failure, or scrapes that could not reach it. */
export type EjectionCause = RequestFailure | "scrape-unreachable";

/** Whether an ejection's cause means the pod's process or network is gone (not merely answering errors). */
export function isReachabilityCause(cause: EjectionCause): boolean {
  return cause === "connect-failure" || cause === "scrape-unreachable";
}

/**
 * What a routed request's {@link Outcome} says about its pod's health, for passive health: the one place that
 * decides which endings blame the pod.
 *
 * @module
 */
import type { RequestVerdict } from "../cluster";
import type { Outcome } from "./framework";

/**
 * - Envoy's connect-failure / timeout local replies: `connect-failure` / `timeout`.
 * - Any other Envoy local reply (overflow, no healthy upstream): `neutral`, not the pod's doing.
 * - A status of 500 or above from the pod: `server-error`. Below 500 (including 4xx and 429): `success`, the pod
 *   is up and answering.
 * - No response headers (the client went away first, kvroute cut the stream, the side stream failed): `neutral`;
 *   Envoy's own failures to reach the pod always come with a local reply, so they are never in this case.
 */
export function healthVerdictOf(outcome: Outcome): RequestVerdict {
  switch (outcome.source) {
    case "envoy-connect-failure":
      return "connect-failure";
    case "envoy-timeout":
      return "timeout";
    case "envoy-other":
      return "neutral";
    default: {
      const status = outcome.status ?? 0;
      if (status >= 500) return "server-error";
      return status >= 100 ? "success" : "neutral";
    }
  }
}

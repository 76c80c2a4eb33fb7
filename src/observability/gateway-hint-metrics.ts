/**
 * Metrics of the gateway's per-request endpoint hints (Gateway API Inference Extension): the endpoint subset it
 * offers, the endpoint it reports as served, and the conformance suite's test selection header. Kept apart from
 * `metrics.ts` because each counts, over a closed set of outcomes, what kvroute made of one of those hints.
 *
 * @module
 */
import { Counter } from "prom-client";
import type { Registry } from "prom-client";

/** The gateway-hint handles (part of `Metrics`). */
export interface GatewayHintMetrics {
  /**
   * Requests that carried the gateway's endpoint subset hint, by outcome (a closed set): `honoured` (picked within
   * it), `empty`, `malformed`, `no-eligible-pod` (no ready pod of the model in it); all but `honoured` answer 503.
   */
  readonly subsetHints: Counter<"outcome">;
  /**
   * The gateway's served-endpoint reports, by outcome (a closed set): `same`, `moved` (another pod of the model
   * served; the reservation and prefix record followed), `unknown` (no pod of the model: kept on the pick),
   * `malformed`, `absent` (a routed response without a report).
   */
  readonly servedEndpoints: Counter<"outcome">;
  /**
   * Requests with the conformance test header, by outcome: `narrowed`, `unmatched` (named no pod of the model:
   * ignored), `malformed` (400), `ignored` (conformance test mode off).
   */
  readonly testSelections: Counter<"outcome">;
}

/** Register the gateway-hint metrics. */
export function createGatewayHintMetrics(registry: Registry): GatewayHintMetrics {
  const registers = [registry];
  return {
    subsetHints: new Counter({
      name: "kvroute_subset_hint_total",
      help:
        "Requests with the gateway's endpoint subset hint, by outcome: honoured, empty, malformed, " +
        "no-eligible-pod (all but honoured answered 503).",
      labelNames: ["outcome"],
      registers,
    }),
    servedEndpoints: new Counter({
      name: "kvroute_served_endpoint_total",
      help:
        "The gateway's served-endpoint reports, by outcome: same, moved (reservation moved to the serving pod), " +
        "unknown (no pod of the model; pick kept), malformed, absent (routed response without a report).",
      labelNames: ["outcome"],
      registers,
    }),
    testSelections: new Counter({
      name: "kvroute_conformance_test_selection_total",
      help:
        "Requests with the conformance test-epp-endpoint-selection header, by outcome: narrowed, unmatched " +
        "(ignored), malformed (400), ignored (conformance test mode off).",
      labelNames: ["outcome"],
      registers,
    }),
  };
}

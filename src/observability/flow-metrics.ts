/**
 * Metrics of flow control (docs/flow-control.md): the queue's length by model and band, dispatches, drops by reason,
 * cancellations, queue wait, and saturation checks by result — `unknown-*` results (pods without fresh engine
 * metrics) counted apart from measured ones. Labels are bounded: models through the model label limiter, bands by
 * flow control's priority range (-100..100), reasons and results closed sets.
 *
 * @module
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { LabelLimiter } from "./label-limiter";

/** The flow-control handles (part of `Metrics`). */
export interface FlowMetrics {
  /** Requests dispatched from the flow queue to the strategies, by model and band. */
  readonly flowDispatched: Counter<"model" | "band">;
  /** Requests dropped by flow control, by model, band and reason (`queue-full`, `ttl`, `shed`). */
  readonly flowDropped: Counter<"model" | "band" | "reason">;
  /** Queued requests whose stream ended while they waited, by model. */
  readonly flowCancelled: Counter<"model">;
  /** Time a dispatched request waited in the flow queue, seconds, by model. */
  readonly flowQueueWaitSeconds: Histogram<"model">;
  /** Saturation checks by model and result (`free`, `unknown-free`, `unknown-saturated`, `saturated`). */
  readonly flowSaturationChecks: Counter<"model" | "result">;
  /** Where the queued-requests gauge reads from (model, band, queued). */
  setFlowQueueSource(source: () => Iterable<readonly [string, number, number]>): void;
}

/** Register the flow-control metrics. */
export function createFlowMetrics(registry: Registry, modelLabel: LabelLimiter): FlowMetrics {
  const registers = [registry];
  let source: () => Iterable<readonly [string, number, number]> = () => [];
  new Gauge({
    name: "kvroute_flow_queued_requests",
    help: "Requests waiting in flow control's queue, by model and priority band.",
    labelNames: ["model", "band"],
    registers,
    collect() {
      this.reset();
      for (const [model, band, queued] of source())
        this.inc({ model: modelLabel.admit(model), band: String(band) }, queued);
    },
  });
  return {
    flowDispatched: new Counter({
      name: "kvroute_flow_dispatched_total",
      help: "Requests dispatched from flow control's queue to the routing strategies, by model and band.",
      labelNames: ["model", "band"],
      registers,
    }),
    flowDropped: new Counter({
      name: "kvroute_flow_dropped_total",
      help: "Requests dropped by flow control, by model, band and reason (queue-full: 429; ttl, shed: 503).",
      labelNames: ["model", "band", "reason"],
      registers,
    }),
    flowCancelled: new Counter({
      name: "kvroute_flow_cancelled_total",
      help: "Requests whose stream ended while they waited in flow control's queue, by model.",
      labelNames: ["model"],
      registers,
    }),
    flowQueueWaitSeconds: new Histogram({
      name: "kvroute_flow_queue_wait_seconds",
      help: "Time dispatched requests waited in flow control's queue, seconds.",
      labelNames: ["model"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    flowSaturationChecks: new Counter({
      name: "kvroute_flow_saturation_checks_total",
      help:
        "Flow control's saturation checks by model and result: free, saturated (measured), unknown-free and " +
        "unknown-saturated (decided on pods without fresh engine metrics, by kvroute's own in-flight work), " +
        "reserved (a lower band held back: room left only in the room reserved for the model's top band).",
      labelNames: ["model", "result"],
      registers,
    }),
    setFlowQueueSource(s) {
      source = s;
    },
  };
}

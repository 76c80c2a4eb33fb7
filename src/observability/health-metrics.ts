/**
 * Passive-health metrics, registered into kvroute's registry next to the others. The per-pod gauge is rebuilt at
 * scrape time from the detector and its pod label goes through the shared pod-label limiter; every other label
 * takes values from closed sets (triggers, causes, probe results).
 *
 * @module
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import type { LabelLimiter } from "./label-limiter";

/** The handles the server records into. */
export interface HealthMetrics {
  /** Ejections by trigger (`consecutive`, `ratio`, `probe`) and cause (`connect-failure`, `timeout`, …). */
  readonly ejections: Counter<"trigger" | "cause">;
  /** Triggers that fired while the model was at its ejection bound: the pod stayed routable. */
  readonly ejectionsRefused: Counter<"trigger" | "cause">;
  /** Half-open probes by result (`success`: returned; `failure`: ejected again) and by what probed. */
  readonly probes: Counter<"result" | "via">;
  /** Decisions that found every candidate ejected and used them all. */
  readonly panicDecisions: Counter;
}

/** Create the metrics. `out` lists the pods out now by name, read at scrape time. */
export function createHealthMetrics(
  registry: Registry,
  podLabel: LabelLimiter,
  out: () => Iterable<readonly [podName: string, state: "ejected" | "probing"]>,
): HealthMetrics {
  const registers = [registry];
  new Gauge({
    name: "kvroute_outlier_ejected_pods",
    help: "Pods passive health holds out of routing now, by state (ejected: in backoff; probing: trial traffic only).",
    labelNames: ["pod", "state"],
    registers,
    collect() {
      this.reset();
      for (const [pod, state] of out()) this.inc({ pod: podLabel.admit(pod), state }, 1);
    },
  });
  return {
    ejections: new Counter({
      name: "kvroute_outlier_ejections_total",
      help: "Pods ejected by passive health, by trigger and by the failure that tripped it.",
      labelNames: ["trigger", "cause"],
      registers,
    }),
    ejectionsRefused: new Counter({
      name: "kvroute_outlier_ejections_refused_total",
      help: "Ejections not made because the model was at --outlier-max-ejected-percent; the pod stayed routable.",
      labelNames: ["trigger", "cause"],
      registers,
    }),
    probes: new Counter({
      name: "kvroute_outlier_probes_total",
      help: "Half-open probes of ejected pods by result (success: returned; failure: ejected again) and probe kind.",
      labelNames: ["result", "via"],
      registers,
    }),
    panicDecisions: new Counter({
      name: "kvroute_outlier_panic_decisions_total",
      help: "Routing decisions that found every candidate pod ejected and used them all.",
      registers,
    }),
  };
}

/**
 * The flow-control rows of the settings table (`--flow-*`): the queue in front of every strategy, its bounds, its
 * fairness and order, where priorities come from, and the saturation thresholds that decide when a request waits.
 * The tenant (flow) header is `--tenant-header`, shared with tenant budgets: one tenant key everywhere. Spread into `SETTINGS`; the order here is their order in `--help`. See docs/flow-control.md.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { boolean, decimal, integer, oneOf, optionalText } from "./values";

/** setTimeout overflows above 2^31-1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** The `Config` fields these rows fill. */
export type FlowSettingKey =
  | "flowControl"
  | "flowMaxQueued"
  | "flowMaxQueuedPerBand"
  | "flowTtlMs"
  | "flowFairness"
  | "flowOrder"
  | "flowFairnessWindowMs"
  | "flowMaxFlows"
  | "flowObjectivePriorities"
  | "flowQueueDepthThreshold"
  | "flowKvCacheThreshold"
  | "flowPodCapacityTokens"
  | "flowPodMaxRunning"
  | "flowMaxPrefillDelayMs"
  | "flowReservedSeats"
  | "flowReservedPrefill"
  | "flowTopBandWindowMs"
  | "flowRecheckIntervalMs";

/** Flow-control settings. */
export const FLOW_SETTINGS: { readonly [K in FlowSettingKey]: Setting<Config[K]> } = {
  flowControl: {
    flag: "flow-control",
    env: "KVROUTE_FLOW_CONTROL",
    type: boolean(true),
    description:
      "Flow control: hold requests in a bounded priority queue while their model's pods are saturated.",
  },
  flowMaxQueued: {
    flag: "flow-max-queued",
    env: "KVROUTE_FLOW_MAX_QUEUED",
    type: integer({ min: 0, max: 1_000_000, default: 1024 }),
    description:
      "Flow control: most requests queued over all models (beyond: shed a lower sheddable one, else 429).",
  },
  flowMaxQueuedPerBand: {
    flag: "flow-max-queued-per-band",
    env: "KVROUTE_FLOW_MAX_QUEUED_PER_BAND",
    type: integer({ min: 0, max: 1_000_000, default: 1024 }),
    description: "Flow control: most requests queued in one priority band (beyond: 429).",
  },
  flowTtlMs: {
    flag: "flow-ttl-ms",
    env: "KVROUTE_FLOW_TTL_MS",
    type: integer({ min: 1, max: MAX_TIMER_MS, default: 15_000 }),
    description: "Flow control: longest a request waits in the queue, ms (then 503).",
  },
  flowFairness: {
    flag: "flow-fairness",
    env: "KVROUTE_FLOW_FAIRNESS",
    type: oneOf(["round-robin", "least-attained"] as const, "round-robin"),
    description: "Flow control: how tenants share a band (turns, or fewest tokens served over the window).",
  },
  flowOrder: {
    flag: "flow-order",
    env: "KVROUTE_FLOW_ORDER",
    type: oneOf(["fcfs", "edf"] as const, "fcfs"),
    description: "Flow control: order of one tenant's requests (first come, or earliest TTFT-SLO deadline).",
  },
  flowFairnessWindowMs: {
    flag: "flow-fairness-window-ms",
    env: "KVROUTE_FLOW_FAIRNESS_WINDOW_MS",
    type: integer({ min: 1, max: MAX_TIMER_MS, default: 60_000 }),
    description: "Flow control: window of least-attained service, ms (older served tokens no longer count).",
  },
  flowMaxFlows: {
    flag: "flow-max-flows",
    env: "KVROUTE_FLOW_MAX_FLOWS",
    type: integer({ min: 1, max: 1_000_000, default: 10_000 }),
    description:
      "Flow control: most tenants remembered for fairness (beyond: the least recently served is forgotten).",
  },
  flowObjectivePriorities: {
    flag: "flow-objective-priorities",
    env: "KVROUTE_FLOW_OBJECTIVE_PRIORITIES",
    type: optionalText({ hint: "<name=priority,...>" }),
    description:
      "Flow control: priority of each x-gateway-inference-objective name, -100..100 (unlisted: 0).",
  },
  flowQueueDepthThreshold: {
    flag: "flow-queue-depth-threshold",
    env: "KVROUTE_FLOW_QUEUE_DEPTH_THRESHOLD",
    type: integer({ min: 0, max: 1_000_000, default: 5 }),
    description: "Flow control: engine waiting requests above which a pod is saturated.",
  },
  flowKvCacheThreshold: {
    flag: "flow-kv-cache-threshold",
    env: "KVROUTE_FLOW_KV_CACHE_THRESHOLD",
    type: decimal({ min: 0, max: 1, default: 0.8 }),
    description:
      "Flow control: KV-cache usage (and share of token capacity in flight) above which a pod is saturated.",
  },
  flowPodCapacityTokens: {
    flag: "flow-pod-capacity-tokens",
    env: "KVROUTE_FLOW_POD_CAPACITY_TOKENS",
    type: integer({ min: 0, max: 1_000_000_000, default: 0 }),
    description:
      "Flow control: token capacity of each pod; 0 = from the engine's cache_config_info, else 65536.",
  },
  flowPodMaxRunning: {
    flag: "flow-pod-max-running",
    env: "KVROUTE_FLOW_POD_MAX_RUNNING",
    type: integer({ min: 0, max: 1_000_000, default: 0 }),
    description:
      "Flow control: requests each pod runs at once (max_num_seqs); a pod with this many + 1 in flight is saturated; 0 = learned from its metrics.",
  },
  flowMaxPrefillDelayMs: {
    flag: "flow-max-prefill-delay-ms",
    env: "KVROUTE_FLOW_MAX_PREFILL_DELAY_MS",
    type: integer({ min: 0, max: MAX_TIMER_MS, default: 100 }),
    description:
      "Flow control: prefill delay (ms) kvroute may queue on a pod (its dispatched prompt tokens not yet prefilled, over the pod's measured prefill throughput); 0 = no such limit.",
  },
  flowReservedSeats: {
    flag: "flow-reserved-seats",
    env: "KVROUTE_FLOW_RESERVED_SEATS",
    type: integer({ min: 0, max: 1_000_000, default: 0 }),
    description:
      "Flow control: in-flight requests per pod reserved for the model's top band (a lower band may have this many fewer than seats + 1); only with --flow-pod-max-running set; 0 = none.",
  },
  flowReservedPrefill: {
    flag: "flow-reserved-prefill",
    env: "KVROUTE_FLOW_RESERVED_PREFILL",
    type: decimal({ min: 0, max: 1, default: 0 }),
    description:
      "Flow control: share of --flow-max-prefill-delay-ms reserved for the model's top band (a lower band is held above the rest); 0 = none.",
  },
  flowTopBandWindowMs: {
    flag: "flow-top-band-window-ms",
    env: "KVROUTE_FLOW_TOP_BAND_WINDOW_MS",
    type: integer({ min: 1, max: MAX_TIMER_MS, default: 60_000 }),
    description:
      "Flow control: a model's top band (the one room is reserved for) is its highest priority seen within this window, ms.",
  },
  flowRecheckIntervalMs: {
    flag: "flow-recheck-interval-ms",
    env: "KVROUTE_FLOW_RECHECK_INTERVAL_MS",
    type: integer({ min: 1, max: 60_000, default: 100 }),
    description: "Flow control: how often a non-empty queue re-checks saturation between other triggers, ms.",
  },
};

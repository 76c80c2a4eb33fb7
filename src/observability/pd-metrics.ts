/**
 * Metrics of prefill/decode disaggregation (the `pd` strategy's prefill hop). Kept apart from `metrics.ts` because
 * they describe one feature's step, over closed label sets (roleset names are admitted through a label limiter).
 *
 * @module
 */
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { createLabelLimiter } from "./label-limiter";
import type { LabelLimiter } from "./label-limiter";

/** Most roleset label values (from pod labels, so operator-controlled; beyond: `other`). */
const MAX_ROLESET_SERIES = 64;

/** Prefill requests take a whole prompt's compute: buckets from 10 ms to a minute. */
const PREFILL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The P/D handles (part of `Metrics`). */
export interface PdMetrics {
  /** Prefill request durations by result: `ok` (the decode request got its parameters) or `error`. */
  readonly pdPrefillSeconds: Histogram<"result">;
  /**
   * P/D requests that went to their decode pod without a prefill hop, by reason (a closed set): `short-prompt`,
   * `cached-prompt`, or a fallback (`prefill-status`, `prefill-timeout`, `prefill-connect`, `prefill-malformed`,
   * `prefill-busy`, `no-prefill-pod`, `no-decode-pod`, `engine-unsupported`, `body-not-mutable`, `body-not-json`).
   */
  readonly pdSkips: Counter<"reason">;
  /** Disaggregated requests by the roleset of their prefill/decode pair (limited label). */
  readonly pdPairs: Counter<"roleset">;
  /** Admits roleset names into `pdPairs` (at most 64; beyond: `other`). */
  readonly pdRolesetLabel: LabelLimiter;
}

/** Register the P/D metrics. */
export function createPdMetrics(registry: Registry): PdMetrics {
  const registers = [registry];
  return {
    pdPrefillSeconds: new Histogram({
      name: "kvroute_pd_prefill_duration_seconds",
      help: "pd: prefill requests kvroute sent, by result (ok: the decode request got its KV parameters; error).",
      labelNames: ["result"],
      buckets: PREFILL_BUCKETS,
      registers,
    }),
    pdSkips: new Counter({
      name: "kvroute_pd_prefill_skipped_total",
      help:
        "pd: requests sent to their decode pod without a prefill hop, by reason (short-prompt, cached-prompt, or a fallback: " +
        "prefill-status, prefill-timeout, prefill-connect, prefill-malformed, prefill-busy, no-prefill-pod, ...).",
      labelNames: ["reason"],
      registers,
    }),
    pdPairs: new Counter({
      name: "kvroute_pd_pairs_total",
      help: "pd: disaggregated requests by the roleset of their prefill/decode pair.",
      labelNames: ["roleset"],
      registers,
    }),
    pdRolesetLabel: createLabelLimiter(MAX_ROLESET_SERIES),
  };
}

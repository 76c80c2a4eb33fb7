/**
 * The prefix-affinity ("sticky until saturated") rows of the settings table, kept apart so `settings.ts` stays one
 * screen per concern. Spread into `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { decimal, integer, namedIntegers } from "./values";

/** The `Config` fields these rows fill. */
export type PrefixAffinitySettingKey =
  "prefixAffinityThreshold" | "prefixAffinityTtftPenaltyMs" | "prefixAffinityPrefillThroughput";

/** prefix-affinity strategy settings. */
export const PREFIX_AFFINITY_SETTINGS: {
  readonly [K in PrefixAffinitySettingKey]: Setting<Config[K]>;
} = {
  prefixAffinityThreshold: {
    flag: "prefix-affinity-threshold",
    env: "KVROUTE_PREFIX_AFFINITY_THRESHOLD",
    type: decimal({ min: 0.01, max: 1, default: 0.5 }),
    description: "prefix-affinity: a pod holding at least this fraction of the prompt's blocks keeps it.",
  },
  prefixAffinityTtftPenaltyMs: {
    flag: "prefix-affinity-ttft-penalty-ms",
    env: "KVROUTE_PREFIX_AFFINITY_TTFT_PENALTY_MS",
    type: integer({ min: 1, max: 3_600_000, default: 1000 }),
    description:
      "prefix-affinity: most extra TTFT accepted to stay on the cache, ms; caps the backlog over the least busy pod's at prefill tokens/s × this.",
  },
  prefixAffinityPrefillThroughput: {
    flag: "prefix-affinity-prefill-throughput",
    env: "KVROUTE_PREFIX_AFFINITY_PREFILL_THROUGHPUT",
    type: namedIntegers({ min: 1, max: 1_000_000_000 }),
    description:
      "prefix-affinity: prefill tokens/s per model (model=N,...); else the GPU profile, else measured from the pod.",
  },
};

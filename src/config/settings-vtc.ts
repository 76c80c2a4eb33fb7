/**
 * The vtc-basic (virtual token counter) rows of the settings table, kept apart so `settings.ts` stays one screen
 * per concern. Spread into `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { decimal, integer, oneOf } from "./values";

/** The `Config` fields these rows fill. */
export type VtcSettingKey =
  | "vtcWindowSize"
  | "vtcTimeUnit"
  | "vtcMinTokens"
  | "vtcMaxTokens"
  | "vtcMaxPodLoad"
  | "vtcInputTokenWeight"
  | "vtcOutputTokenWeight"
  | "vtcFairnessWeight"
  | "vtcUtilizationWeight"
  | "vtcMaxUsers";

/** vtc-basic strategy settings (AIBrix's VTC token tracker and pod scoring). */
export const VTC_SETTINGS: { readonly [K in VtcSettingKey]: Setting<Config[K]> } = {
  vtcWindowSize: {
    flag: "vtc-window-size",
    env: "AIBRIX_ROUTER_VTC_TOKEN_TRACKER_WINDOW_SIZE",
    type: integer({ min: 1, max: 1_000_000, default: 5 }),
    description: "vtc-basic: per-user token window length, in --vtc-time-unit units.",
  },
  vtcTimeUnit: {
    flag: "vtc-time-unit",
    env: "AIBRIX_ROUTER_VTC_TOKEN_TRACKER_TIME_UNIT",
    type: oneOf(["minutes", "seconds", "milliseconds"] as const, "minutes"),
    description: "vtc-basic: unit of the token window length.",
  },
  vtcMinTokens: {
    flag: "vtc-min-tokens",
    env: "AIBRIX_ROUTER_VTC_TOKEN_TRACKER_MIN_TOKENS",
    type: decimal({ min: 1, max: 1e12, default: 1000 }),
    description: "vtc-basic: smallest bucket size; the minimum over users when none has tokens.",
  },
  vtcMaxTokens: {
    flag: "vtc-max-tokens",
    env: "AIBRIX_ROUTER_VTC_TOKEN_TRACKER_MAX_TOKENS",
    type: decimal({ min: 1, max: 1e12, default: 8000 }),
    description: "vtc-basic: the maximum over users when none has tokens.",
  },
  vtcMaxPodLoad: {
    flag: "vtc-max-pod-load",
    env: "AIBRIX_ROUTER_VTC_BASIC_MAX_POD_LOAD",
    type: decimal({ min: 1, max: 1_000_000, default: 100 }),
    description: "vtc-basic: running requests at which a pod's utilization term reaches 1.",
  },
  vtcInputTokenWeight: {
    flag: "vtc-input-token-weight",
    env: "AIBRIX_ROUTER_VTC_BASIC_INPUT_TOKEN_WEIGHT",
    type: decimal({ min: 0, max: 1_000_000, default: 1 }),
    description: "vtc-basic: weight of an input token in a user's count.",
  },
  vtcOutputTokenWeight: {
    flag: "vtc-output-token-weight",
    env: "AIBRIX_ROUTER_VTC_BASIC_OUTPUT_TOKEN_WEIGHT",
    type: decimal({ min: 0, max: 1_000_000, default: 2 }),
    description: "vtc-basic: weight of an output token in a user's count.",
  },
  vtcFairnessWeight: {
    flag: "vtc-fairness-weight",
    env: "AIBRIX_ROUTER_VTC_BASIC_FAIRNESS_WEIGHT",
    type: decimal({ min: 0, max: 1_000_000, default: 1 }),
    description: "vtc-basic: weight of the fairness term (distance from the user's pod position).",
  },
  vtcUtilizationWeight: {
    flag: "vtc-utilization-weight",
    env: "AIBRIX_ROUTER_VTC_BASIC_UTILIZATION_WEIGHT",
    type: decimal({ min: 0, max: 1_000_000, default: 1 }),
    description: "vtc-basic: weight of the utilization term (running requests / max pod load).",
  },
  vtcMaxUsers: {
    flag: "vtc-max-users",
    env: "KVROUTE_VTC_MAX_USERS",
    type: integer({ min: 1, max: 10_000_000, default: 10_000 }),
    description: "vtc-basic: most users tracked; the least recently charged is forgotten beyond.",
  },
};

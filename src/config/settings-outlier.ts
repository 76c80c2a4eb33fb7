/**
 * The passive-health (outlier detection) rows of the settings table, kept apart so `settings.ts` stays one screen
 * per concern. Spread into `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { boolean, decimal, integer } from "./values";

/** setTimeout's largest delay; a longer ejection would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The `Config` fields these rows fill. */
export type OutlierSettingKey =
  | "outlierDetection"
  | "outlierConsecutiveFailures"
  | "outlierFailureRatio"
  | "outlierMinRequests"
  | "outlierWindowMs"
  | "outlierBaseEjectionMs"
  | "outlierMaxEjectionMs"
  | "outlierMaxEjectedPercent";

/** Passive-health settings. */
export const OUTLIER_SETTINGS: { readonly [K in OutlierSettingKey]: Setting<Config[K]> } = {
  outlierDetection: {
    flag: "outlier-detection",
    env: "KVROUTE_OUTLIER_DETECTION",
    type: boolean(true),
    description:
      "Passive health: eject pods whose requests or scrapes fail, for every strategy (false = off).",
  },
  outlierConsecutiveFailures: {
    flag: "outlier-consecutive-failures",
    env: "KVROUTE_OUTLIER_CONSECUTIVE_FAILURES",
    type: integer({ min: 0, max: 1_000_000, default: 5 }),
    description: "Eject after this many failed requests (or unreachable scrapes) in a row; 0 = trigger off.",
  },
  outlierFailureRatio: {
    flag: "outlier-failure-ratio",
    env: "KVROUTE_OUTLIER_FAILURE_RATIO",
    type: decimal({ min: 0, max: 1, default: 0.5 }),
    description: "Eject when this share of the window's requests failed (0..1); 0 = trigger off.",
  },
  outlierMinRequests: {
    flag: "outlier-min-requests",
    env: "KVROUTE_OUTLIER_MIN_REQUESTS",
    type: integer({ min: 1, max: 1_000_000, default: 20 }),
    description: "The failure ratio is judged only over at least this many requests in the window.",
  },
  outlierWindowMs: {
    flag: "outlier-window-ms",
    env: "KVROUTE_OUTLIER_WINDOW_MS",
    type: integer({ min: 100, max: 3_600_000, default: 10_000 }),
    description: "Sliding window of the failure ratio, ms.",
  },
  outlierBaseEjectionMs: {
    flag: "outlier-base-ejection-ms",
    env: "KVROUTE_OUTLIER_BASE_EJECTION_MS",
    type: integer({ min: 1, max: MAX_TIMER_MS, default: 5000 }),
    description: "First ejection's length, ms; the n-th in a row lasts n times this (then a probe).",
  },
  outlierMaxEjectionMs: {
    flag: "outlier-max-ejection-ms",
    env: "KVROUTE_OUTLIER_MAX_EJECTION_MS",
    type: integer({ min: 1, max: MAX_TIMER_MS, default: 60_000 }),
    description: "Longest ejection, ms (>= the base); each such span of good health forgives one ejection.",
  },
  outlierMaxEjectedPercent: {
    flag: "outlier-max-ejected-percent",
    env: "KVROUTE_OUTLIER_MAX_EJECTED_PERCENT",
    type: integer({ min: 0, max: 100, default: 50 }),
    description:
      "Most of a model's ready pods ejected at once, % (at least one of two or more; never the last).",
  },
};

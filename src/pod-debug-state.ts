/**
 * The per-pod part of `/debug/state`: what the strategies see of a pod now (fresh engine metrics, scrape age and
 * error, kvroute's own observations), plus whatever facts other runtimes add (prefix indexes, passive health).
 * Kept apart from `server.ts` so the admin server receives one function and knows nothing of where facts live.
 *
 * @module
 */
import type { EngineMetricsStore } from "./cluster";
import type { Observations } from "./cluster";

/** Facts about one pod, keyed by the pod's key; an empty record when a source knows nothing of it. */
export type PodFacts = (key: string) => Record<string, unknown>;

/** Compose the `/debug/state` facts of a pod: engine metrics and observations first, then each of `more`. */
export function createPodDebugState(
  engineMetrics: EngineMetricsStore,
  observations: Observations,
  now: () => number,
  more: readonly PodFacts[],
): PodFacts {
  return (key) => {
    const entry = engineMetrics.entry(key);
    const fresh = engineMetrics.fresh(key);
    const details: Record<string, unknown> = {
      metricsInUse: fresh ? { ...fresh, byModel: Object.fromEntries(fresh.byModel) } : null,
      lastScrapeAgeMs: entry?.lastGoodMs === undefined ? null : Math.round(now() - entry.lastGoodMs),
      scrapeError: entry?.lastError ?? null,
      observation: observations.get(key) ?? null,
    };
    return Object.assign(details, ...more.map((facts) => facts(key)));
  };
}

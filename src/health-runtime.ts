/**
 * Wiring of passive health: the outlier detector over the fleet, fed by the scraper's results and (through the
 * director) by every routed request's outcome, with its metrics, log lines and `/debug/state` facts. A pod ejected
 * because it could not be reached also loses what the approximate prefix index learnt about it: a pod that went
 * away and came back has lost its KV cache.
 *
 * @module
 */
import type { ClusterStore } from "./cluster";
import { endpointName } from "./cluster";
import { createOutlierDetector, isReachabilityCause } from "./cluster";
import type { HealthGate, ScrapeVerdict } from "./cluster";
import type { ScrapeResult } from "./cluster";
import type { Config } from "./config";
import type { Logger } from "./observability";
import type { Metrics } from "./observability";
import { createHealthMetrics } from "./observability";

/** What the server needs from passive health. */
export interface HealthRuntime {
  /** For the director; undefined when `--outlier-detection=false`. */
  readonly gate: HealthGate | undefined;
  /** Feed one scrape's result. */
  onScrape(podKey: string, result: ScrapeResult): void;
  /** `/debug/state` facts of one pod (`health: null` when nothing was ever reported for it). */
  podDetails(podKey: string): Record<string, unknown>;
  close(): void;
}

/** Options of {@link startHealthRuntime}. */
export interface HealthRuntimeOptions {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Monotonic clock, ms (tests inject one to step through backoffs). */
  readonly now: () => number;
  /** Forget the approximate prefix index's entries of a pod. */
  readonly dropRoutedPrefixes: (podKey: string) => void;
}

/** A scrape that got any HTTP answer reached the server; one that was refused, reset or timed out did not. */
export function scrapeVerdictOf(result: ScrapeResult): ScrapeVerdict {
  return result === "connect-error" || result === "timeout" ? "unreachable" : "reachable";
}

/** Start passive health (or a no-op when it is turned off). */
export function startHealthRuntime(o: HealthRuntimeOptions): HealthRuntime {
  const { config, cluster, metrics, log } = o;
  if (!config.outlierDetection) {
    return { gate: undefined, onScrape: () => undefined, podDetails: () => ({}), close: () => undefined };
  }
  const nameOf = (key: string): string => {
    const pod = cluster.snapshot().pods.get(key);
    return pod === undefined ? key : endpointName(pod);
  };
  let out: () => Iterable<readonly [string, "ejected" | "probing"]> = () => [];
  const healthMetrics = createHealthMetrics(metrics.registry, metrics.podLabel, () => out());
  const detector = createOutlierDetector({
    cluster,
    now: o.now,
    consecutiveFailures: config.outlierConsecutiveFailures,
    failureRatio: config.outlierFailureRatio,
    minRequests: config.outlierMinRequests,
    windowMs: config.outlierWindowMs,
    baseEjectionMs: config.outlierBaseEjectionMs,
    maxEjectionMs: config.outlierMaxEjectionMs,
    maxEjectedPercent: config.outlierMaxEjectedPercent,
    observer: {
      onEjected(pod, trigger, cause, durationMs) {
        healthMetrics.ejections.inc({ trigger, cause });
        log.warn(
          { pod: pod.name, address: pod.address, trigger, cause, durationMs },
          "passive health: pod ejected",
        );
        if (isReachabilityCause(cause)) o.dropRoutedPrefixes(pod.key);
      },
      onEjectionRefused(pod, trigger, cause) {
        healthMetrics.ejectionsRefused.inc({ trigger, cause });
        log.debug(
          { pod: pod.name, trigger, cause },
          "passive health: ejection refused at the ejection bound",
        );
      },
      onProbe(pod, result, via) {
        healthMetrics.probes.inc({ result, via });
        if (result === "success")
          log.info({ pod: pod.name, via }, "passive health: pod returned after a probe");
      },
      onPanic: () => healthMetrics.panicDecisions.inc(),
    },
  });
  out = function* () {
    for (const [key, state] of detector.out()) yield [nameOf(key), state] as const;
  };
  return {
    gate: detector,
    onScrape: (podKey, result) => detector.reportScrape(podKey, scrapeVerdictOf(result)),
    podDetails: (podKey) => ({ health: detector.details(podKey) }),
    close: () => detector.close(),
  };
}

/**
 * What keeps the server's view of the fleet current once it runs: the engine-metrics scraper (on the main thread
 * or its own worker thread) and the cluster subscription (readiness, departed pods' series and observations,
 * waking requests that wait for headroom). Each registers its disposer as it starts.
 *
 * @module
 */
import type { ClusterStore } from "./cluster";
import { parseProblemCounts, startScraper, startScraperThread } from "./cluster";
import type { ScraperOptions } from "./cluster";
import type { Config } from "./config";
import type { Logger } from "./observability";
import type { RegisterPiece } from "./lifecycle";
import type { Runtimes } from "./server-runtimes";

/** What the watchers need. */
export interface WatcherDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly log: Logger;
  readonly runtimes: Runtimes;
  /** Scrape engine `/metrics` (default true). */
  readonly scrapeMetrics?: boolean | undefined;
}

/** Start the engine-metrics scraper (unless turned off); registered as `scraper`. */
export function startServerScraper(deps: WatcherDeps, piece: RegisterPiece): void {
  const { config, cluster, log, runtimes } = deps;
  const { metrics, passiveHealth } = runtimes;
  const options: ScraperOptions = {
    cluster,
    store: runtimes.engineMetrics,
    intervalMs: config.metricsIntervalMs,
    timeoutMs: config.metricsTimeoutMs,
    concurrency: config.metricsConcurrency,
    now: runtimes.now,
    staleAfterMs: config.metricsStaleAfterMs,
    log,
    observer: {
      onScrape(podKey, seconds, result) {
        const pod = runtimes.podName(podKey);
        metrics.scrapes.inc({ pod, result });
        metrics.scrapeSeconds.observe({ pod }, seconds);
        passiveHealth.onScrape(podKey, result);
        // Fresh engine figures may show room for requests flow control holds back.
        if (result === "ok") runtimes.flowControl?.wakeAll();
      },
      onParseProblems(_podKey, problems) {
        for (const [kind, n] of parseProblemCounts(problems)) metrics.scrapeParseProblems.inc({ kind }, n);
      },
    },
  };
  const threadScraper =
    deps.scrapeMetrics !== false && config.metricsScrapeThread ? startScraperThread(options) : undefined;
  if (threadScraper !== undefined) metrics.followScrapeThread(() => threadScraper.stats());
  const scraper = deps.scrapeMetrics === false ? undefined : (threadScraper ?? startScraper(options));
  piece("scraper", () => scraper?.close());
}

/**
 * Follow the cluster: each change re-reads readiness, forgets departed pods, and wakes requests waiting for
 * headroom. Registered as `cluster-subscription`.
 */
export function subscribeToCluster(
  deps: Pick<WatcherDeps, "cluster" | "runtimes">,
  syncReadiness: () => void,
  piece: RegisterPiece,
): void {
  const { cluster, runtimes } = deps;
  const forgetDeparted = (): void => {
    const pods = cluster.snapshot().pods;
    for (const key of [...runtimes.observations.keys()])
      if (!pods.has(key)) runtimes.observations.delete(key);
  };
  const unsubscribe = cluster.onChange(() => {
    syncReadiness();
    forgetDeparted();
    void runtimes.metrics.removeDepartedPodSeries();
    // New or newly ready pods may have room for requests waiting on headroom.
    runtimes.headroomQueue.wakeAll();
    runtimes.flowControl?.wakeAll();
  });
  piece("cluster-subscription", unsubscribe);
}

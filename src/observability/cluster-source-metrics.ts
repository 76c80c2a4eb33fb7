/**
 * Metrics of how kvroute learns the cluster: engine `/metrics` scrapes and Kubernetes list/watch discovery. Kept
 * apart from `metrics.ts` because they describe the freshness of what the strategies see, not the requests
 * themselves.
 *
 * @module
 */
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";

/** The cluster-source handles (part of `Metrics`). */
export interface ClusterSourceMetrics {
  /** Engine `/metrics` scrapes by pod and result, with their duration. */
  readonly scrapes: Counter<"pod" | "result">;
  readonly scrapeSeconds: Histogram<"pod">;
  /** Problems inside scraped bodies by kind: malformed-line, truncated, after-eof, stale-sample. */
  readonly scrapeParseProblems: Counter<"kind">;
  /** Kubernetes discovery events, errors and re-lists by object kind. */
  readonly discoveryEvents: Counter<"kind" | "type">;
  readonly discoveryErrors: Counter<"kind" | "reason">;
  readonly discoveryRelists: Counter<"kind">;
  /**
   * Where the scrape thread's own counters are read at each scrape of `/metrics` (results it dropped while the event
   * loop was behind, and its restarts); undefined (the default) while scraping runs in-process.
   */
  followScrapeThread(read: () => ScrapeThreadCounters | undefined): void;
}

/** The scrape thread's counters, as `followScrapeThread` reads them. */
export interface ScrapeThreadCounters {
  readonly droppedResults: number;
  readonly threadRestarts: number;
}

/** Register the scrape and discovery metrics. */
export function createClusterSourceMetrics(registry: Registry): ClusterSourceMetrics {
  const registers = [registry];
  let thread: () => ScrapeThreadCounters | undefined = () => undefined;
  new Counter({
    name: "kvroute_engine_scrape_results_dropped_total",
    help: "Engine scrape results dropped by the scrape thread because the event loop had not applied its earlier batches (bound: 100 batches).",
    registers,
    collect() {
      this.reset();
      this.inc(thread()?.droppedResults ?? 0);
    },
  });
  new Counter({
    name: "kvroute_engine_scrape_thread_restarts_total",
    help: "Times the engine scrape thread died and was started again.",
    registers,
    collect() {
      this.reset();
      this.inc(thread()?.threadRestarts ?? 0);
    },
  });
  return {
    followScrapeThread(read) {
      thread = read;
    },
    scrapes: new Counter({
      name: "kvroute_engine_scrapes_total",
      help: "Engine /metrics scrapes by pod and result (ok, http-error, timeout, connect-error, too-large, malformed).",
      labelNames: ["pod", "result"],
      registers,
    }),
    scrapeSeconds: new Histogram({
      name: "kvroute_engine_scrape_duration_seconds",
      help: "Duration of engine /metrics scrapes, seconds.",
      labelNames: ["pod"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    scrapeParseProblems: new Counter({
      name: "kvroute_engine_metrics_parse_problems_total",
      help: "Problems inside engine /metrics bodies: malformed-line (lines skipped), truncated (bodies cut by the sample cap, refused), after-eof (bodies with data after # EOF, not read), stale-sample (samples older than the staleness bound, treated as missing).",
      labelNames: ["kind"],
      registers,
    }),
    discoveryEvents: new Counter({
      name: "kvroute_discovery_events_total",
      help: "Kubernetes watch events applied, by object kind and event type.",
      labelNames: ["kind", "type"],
      registers,
    }),
    discoveryErrors: new Counter({
      name: "kvroute_discovery_errors_total",
      help: "Kubernetes list/watch failures by object kind and reason (each is retried with backoff).",
      labelNames: ["kind", "reason"],
      registers,
    }),
    discoveryRelists: new Counter({
      name: "kvroute_discovery_relists_total",
      help: "Full re-lists after a watch could not resume (410 Gone or a restart), by object kind.",
      labelNames: ["kind"],
      registers,
    }),
  };
}

/**
 * Messages between the scrape thread (`scrape-thread-main.ts`) and the event loop that owns the metrics store
 * (`scrape-thread.ts`). The thread runs the whole scraper (schedule, HTTP, parse, catalogue) and sends back, in
 * batches of at most {@link FLUSH_MS}, what the in-process scraper would have done to the store, the observer and
 * the log, in the same order.
 *
 * @module
 * @internal
 */
import type { EngineMetrics } from "../engine-metrics";
import type { Pod } from "../pod";
import type { ScrapeFailureReason, ScrapeResult } from "./engine-metrics-store";
import type { ParseProblems } from "./interpret-body";
import type { ScraperStats } from "./scraper";

/** Longest a result waits in the thread before it is sent, ms. */
export const FLUSH_MS = 5;

/** Main → thread: start scraping with these settings. */
export interface ThreadInit {
  readonly t: "init";
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly maxBodyBytes: number | undefined;
  readonly staleAfterMs: number | undefined;
  /** Whether to send the per-pod state log's lines. */
  readonly log: boolean;
  /** One Int32: batches sent and not yet applied by the main thread (the thread adds, the main thread subtracts). */
  readonly pending: SharedArrayBuffer;
  /** At this many pending batches the thread drops results instead of sending them (and counts them). */
  readonly maxPendingBatches: number;
}

/** Main → thread: the fleet changed (only what scraping needs of each pod). */
export interface ThreadPods {
  readonly t: "pods";
  readonly pods: readonly Pod[];
}

/** Main → thread: stop scraping, send what is left, answer {@link ThreadClosed}. */
export interface ThreadClose {
  readonly t: "close";
}

export type ToThread = ThreadInit | ThreadPods | ThreadClose;

/** One thing the scraper did, to be replayed on the main thread. */
export type ThreadEvent =
  /** `ageMs`: how long before the batch was sent the scrape ended (clocks of two threads differ in origin). */
  | { readonly k: "ok"; readonly key: string; readonly metrics: EngineMetrics; readonly ageMs: number }
  | {
      readonly k: "fail";
      readonly key: string;
      readonly reason: ScrapeFailureReason;
      readonly message: string;
    }
  | { readonly k: "scrape"; readonly key: string; readonly seconds: number; readonly result: ScrapeResult }
  | { readonly k: "problems"; readonly key: string; readonly problems: ParseProblems }
  | { readonly k: "log"; readonly level: "warn" | "info"; readonly obj: object; readonly msg: string };

/** Thread → main: events in order, the scraper's counters, and results dropped at the pending bound so far. */
export interface ThreadBatch {
  readonly t: "batch";
  readonly events: readonly ThreadEvent[];
  readonly stats: ScraperStats;
  readonly dropped: number;
}

/** Thread → main: closed; nothing more will be sent. */
export interface ThreadClosed {
  readonly t: "closed";
}

export type FromThread = ThreadBatch | ThreadClosed;

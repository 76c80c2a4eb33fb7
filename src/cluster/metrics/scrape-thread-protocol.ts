/**
 * Messages between the scrape thread (`scrape-thread-main.ts`) and the event loop that owns the metrics store
 * (`scrape-thread.ts`). The thread runs the whole scraper (schedule, HTTP, parse, catalogue) and sends back, in
 * batches of at most {@link FLUSH_MS}, what the in-process scraper would have done to the store, the observer and
 * the log, in the same order.
 *
 * @module
 * @internal
 */
import type { Pod } from "../pod";
import type { ScraperStats } from "./scraper";
import type { WireBatch } from "./scrape-wire";

/**
 * Longest a result waits in the thread before it is sent, ms. Each batch costs a cross-thread wake-up
 * (`postMessage`), measured at ~10 % of the thread's CPU at one batch per 5 ms; at 10 ms a result is still at most
 * a fifth of the default scrape interval old when it reaches the store.
 */
export const FLUSH_MS = 10;

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

/** Thread → main: the scrapes since the last batch, the scraper's counters, results dropped at the bound so far. */
export interface ThreadBatch {
  readonly t: "batch";
  readonly wire: WireBatch;
  readonly stats: ScraperStats;
  readonly dropped: number;
}

/** Thread → main: closed; nothing more will be sent. */
export interface ThreadClosed {
  readonly t: "closed";
}

export type FromThread = ThreadBatch | ThreadClosed;

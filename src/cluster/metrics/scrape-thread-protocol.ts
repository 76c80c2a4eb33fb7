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
  /**
   * Two Int32s shared with the main thread: at {@link PENDING_SLOT}, batches sent and not yet applied (the thread
   * adds, the main thread subtracts); at {@link DROPPED_SLOT}, results dropped at the bound since the scraper started
   * (the thread adds; it survives a thread restart, and the main thread reads it even while its loop is stuck).
   */
  readonly shared: SharedArrayBuffer;
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

/** Index of the pending-batches counter in {@link ThreadInit.shared}. */
export const PENDING_SLOT = 0;
/** Index of the dropped-results counter in {@link ThreadInit.shared}. */
export const DROPPED_SLOT = 1;
/** Bytes of {@link ThreadInit.shared}. */
export const SHARED_BYTES = 8;

/** Thread → main: the scrapes since the last batch and the scraper's counters. */
export interface ThreadBatch {
  readonly t: "batch";
  readonly wire: WireBatch;
  readonly stats: ScraperStats;
}

/** Thread → main: closed; nothing more will be sent. */
export interface ThreadClosed {
  readonly t: "closed";
}

export type FromThread = ThreadBatch | ThreadClosed;

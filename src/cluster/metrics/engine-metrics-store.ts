/**
 * The last good engine metrics of each pod, with the staleness rule strategies rely on: `fresh()` hands out a
 * pod's metrics only while its last good scrape is at most `staleAfterMs` old. A failed scrape does not erase the
 * last good metrics; they age out on their own, so one failing pod never affects another and a single lost scrape
 * does not blind routing. The scraper writes; strategies read through {@link EngineMetricsView}; `/debug/state`
 * reads {@link EngineMetricsStore.entry}.
 *
 * @module
 */
import type { EngineMetrics, EngineMetricsView } from "../engine-metrics";

/** Why a scrape failed: a closed set, mapped from Node errors and HTTP statuses at the scraper's boundary. */
export type ScrapeFailureReason =
  /** The engine answered with a status other than 2xx, or an unreadable HTTP response. */
  | "http-error"
  /** No complete answer within the scrape timeout. */
  | "timeout"
  /** No connection (refused, unreachable, reset, DNS). */
  | "connect-error"
  /** The body exceeded the byte limit; the scrape was aborted. */
  | "too-large"
  /** The body held no Prometheus sample at all (empty, HTML, JSON, …). */
  | "malformed";

/** The outcome of one scrape. */
export type ScrapeResult = "ok" | ScrapeFailureReason;

/** The most recent failure of a pod. */
export interface ScrapeFailure {
  readonly reason: ScrapeFailureReason;
  /** A short human-readable detail, e.g. `HTTP 503` or `ECONNREFUSED`. */
  readonly message: string;
  /** When it was recorded (store clock, ms). */
  readonly atMs: number;
}

/** What the store knows about one pod, for `/debug/state`. */
export interface EngineMetricsEntry {
  /** The last good metrics, fresh or not. */
  readonly metrics?: EngineMetrics;
  /** `scrapedAtMs` of those metrics. */
  readonly lastGoodMs?: number;
  /** When the last scrape (good or failed) was recorded. */
  readonly lastAttemptMs?: number;
  /** The last failure; cleared by the next good scrape. */
  readonly lastError?: ScrapeFailure;
  /** Failures since the last good scrape. */
  readonly consecutiveFailures: number;
}

/** Per-pod engine metrics with a staleness bound. */
export interface EngineMetricsStore extends EngineMetricsView {
  /** Store a good scrape's metrics (replacing the previous ones) and reset the failure count. */
  record(podKey: string, metrics: EngineMetrics): void;
  /** Note a failed scrape. The last good metrics are kept and age out through `fresh()`. */
  recordFailure(podKey: string, reason: ScrapeFailureReason, message?: string): void;
  /** Forget a pod (it left the fleet). Returns whether it was known. */
  delete(podKey: string): boolean;
  /** The pod's last good metrics, fresh or not (facts that do not age, such as its KV capacity); no allocation. */
  lastGood(podKey: string): EngineMetrics | undefined;
  /** A pod's state, or undefined when the store has never heard of it. */
  entry(podKey: string): EngineMetricsEntry | undefined;
  /** Every pod the store holds an entry for. */
  keys(): IterableIterator<string>;
  /** Pods with an entry but no fresh metrics (stale, or never scraped successfully). */
  staleCount(): number;
}

/** Options of {@link createEngineMetricsStore}. */
export interface EngineMetricsStoreOptions {
  /** Metrics older than this (now − scrapedAtMs, ms) are not handed out. Must be ≥ 0. */
  readonly staleAfterMs: number;
  /** The clock `scrapedAtMs` is on (ms; monotonic). Default `performance.now`. */
  readonly now?: () => number;
}

interface MutableEntry {
  metrics: EngineMetrics | undefined;
  lastAttemptMs: number | undefined;
  lastError: ScrapeFailure | undefined;
  consecutiveFailures: number;
}

/**
 * Create an empty store.
 *
 * @throws RangeError when `staleAfterMs` is negative or not a number.
 */
export function createEngineMetricsStore(o: EngineMetricsStoreOptions): EngineMetricsStore {
  const { staleAfterMs } = o;
  if (!(staleAfterMs >= 0)) throw new RangeError(`staleAfterMs ${staleAfterMs} must be >= 0`);
  const now = o.now ?? (() => performance.now());
  const entries = new Map<string, MutableEntry>();
  const isFresh = (m: EngineMetrics | undefined, t: number): m is EngineMetrics =>
    m !== undefined && t - m.scrapedAtMs <= staleAfterMs;
  const slot = (podKey: string): MutableEntry => {
    let e = entries.get(podKey);
    if (!e) {
      e = { metrics: undefined, lastAttemptMs: undefined, lastError: undefined, consecutiveFailures: 0 };
      entries.set(podKey, e);
    }
    return e;
  };
  return {
    fresh(podKey) {
      const m = entries.get(podKey)?.metrics;
      return isFresh(m, now()) ? m : undefined;
    },
    record(podKey, metrics) {
      const e = slot(podKey);
      e.metrics = metrics;
      e.lastAttemptMs = now();
      e.lastError = undefined;
      e.consecutiveFailures = 0;
    },
    recordFailure(podKey, reason, message = reason) {
      const e = slot(podKey);
      const t = now();
      e.lastAttemptMs = t;
      e.lastError = { reason, message, atMs: t };
      e.consecutiveFailures += 1;
    },
    lastGood: (podKey) => entries.get(podKey)?.metrics,
    delete: (podKey) => entries.delete(podKey),
    entry(podKey) {
      const e = entries.get(podKey);
      if (!e) return undefined;
      const out: {
        -readonly [K in keyof EngineMetricsEntry]: EngineMetricsEntry[K];
      } = { consecutiveFailures: e.consecutiveFailures };
      if (e.metrics) {
        out.metrics = e.metrics;
        out.lastGoodMs = e.metrics.scrapedAtMs;
      }
      if (e.lastAttemptMs !== undefined) out.lastAttemptMs = e.lastAttemptMs;
      if (e.lastError) out.lastError = e.lastError;
      return out;
    },
    keys: () => entries.keys(),
    staleCount() {
      const t = now();
      let n = 0;
      for (const e of entries.values()) if (!isFresh(e.metrics, t)) n += 1;
      return n;
    },
  };
}

/**
 * Logging engine-metrics scrape failures without flooding: one line when a pod starts failing (warn) and one when
 * it recovers (info), never one per failed scrape (at 50 ms intervals a dead pod would write 20 lines a second).
 * A global budget bounds the lines further when many pods flap at once: at most `maxLines` per `windowMs`; the
 * lines dropped are counted and reported on the next line that is written.
 *
 * @module
 */
import type { ScrapeResult } from "./engine-metrics-store";

/** The log calls this makes (a pino logger fits). */
export interface ScrapeLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of {@link createScrapeStateLog}. */
export interface ScrapeStateLogOptions {
  /** Clock, ms. Default `performance.now`. */
  readonly now?: () => number;
  /** Most lines per window over all pods. Default 20. */
  readonly maxLines?: number;
  /** Window of the line budget, ms. Default 60 000. */
  readonly windowMs?: number;
}

/** Per-pod failing/healthy state, logged on change. */
export interface ScrapeStateLog {
  /** One scrape of `podKey` ended with `result`; `detail` says why it failed. */
  onResult(podKey: string, result: ScrapeResult, detail?: string): void;
  /** The pod left the fleet: forget its state. */
  forget(podKey: string): void;
}

export function createScrapeStateLog(log: ScrapeLog, o: ScrapeStateLogOptions = {}): ScrapeStateLog {
  const now = o.now ?? (() => performance.now());
  const maxLines = o.maxLines ?? 20;
  const windowMs = o.windowMs ?? 60_000;
  /** Pods whose last scrape failed, with when they started failing. Bounded by the fleet (pods are forgotten). */
  const failing = new Map<string, number>();
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  let suppressed = 0;

  /** Whether the budget allows a line now; the count of lines dropped before it, to report with it. */
  const take = (): { ok: boolean; dropped: number } => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      used = 0;
    }
    if (used >= maxLines) {
      suppressed += 1;
      return { ok: false, dropped: 0 };
    }
    used += 1;
    const dropped = suppressed;
    suppressed = 0;
    return { ok: true, dropped };
  };
  const extra = (dropped: number): object => (dropped > 0 ? { suppressedLines: dropped } : {});

  return {
    onResult(podKey, result, detail) {
      const since = failing.get(podKey);
      if (result === "ok") {
        if (since === undefined) return;
        failing.delete(podKey);
        const { ok, dropped } = take();
        if (ok) {
          log.info(
            { pod: podKey, failedForMs: Math.round(now() - since), ...extra(dropped) },
            "engine metrics scrape recovered",
          );
        }
        return;
      }
      if (since !== undefined) return;
      failing.set(podKey, now());
      const { ok, dropped } = take();
      if (ok) {
        log.warn(
          { pod: podKey, reason: result, detail: detail ?? result, ...extra(dropped) },
          "engine metrics scrape failing; the pod's metrics age out until it recovers",
        );
      }
    },
    forget(podKey) {
      failing.delete(podKey);
    },
  };
}
